//! The IDs a load run asks for, and recognizing them in replies.

use super::Ids;

/// Hands out request IDs and recognizes them in replies, as a number (a key): unique IDs carry a
/// sequence number, pool IDs their index in the pool.
pub(super) struct IdSource {
    pub(super) ids: Ids,
    pub(super) prefix: String,
    pub(super) next: u64,
    pub(super) rng: u64,
}

impl IdSource {
    pub(super) fn new(ids: Ids, tag: &str, client: usize) -> Self {
        Self {
            ids,
            prefix: format!("{tag}{client:x}-"),
            next: 0,
            rng: 0x9e37_79b9_7f4a_7c15 ^ client as u64,
        }
    }

    /// Writes the next ID to `out` and returns its key.
    pub(super) fn write_next(&mut self, out: &mut Vec<u8>) -> u64 {
        use std::io::Write;
        match self.ids {
            Ids::Unique => {
                self.next += 1;
                let _ = write!(out, "{}{:x}", self.prefix, self.next);
                self.next
            }
            Ids::Pool(n) => {
                // xorshift: cheap, and the pool's spread is all that matters here.
                self.rng ^= self.rng << 13;
                self.rng ^= self.rng >> 7;
                self.rng ^= self.rng << 17;
                let key = self.rng % u64::from(n);
                let _ = write!(out, "p{key}");
                key
            }
        }
    }

    pub(super) fn next_id(&mut self) -> String {
        let mut id = Vec::new();
        self.write_next(&mut id);
        String::from_utf8(id).unwrap_or_default()
    }

    /// The key of an ID this source handed out, or `None` for any other ID.
    pub(super) fn key_of(&self, id: &str) -> Option<u64> {
        let (digits, radix) = match self.ids {
            Ids::Unique => (id.strip_prefix(self.prefix.as_str())?, 16),
            Ids::Pool(_) => (id.strip_prefix('p')?, 10),
        };
        // Exactly as written: no sign, no upper case, no leading zero.
        let leading_zero = digits.len() > 1 && digits.starts_with('0');
        let canonical = !digits.is_empty()
            && !leading_zero
            && digits
                .bytes()
                .all(|b| b.is_ascii_digit() || (radix == 16 && (b'a'..=b'f').contains(&b)));
        canonical
            .then(|| u64::from_str_radix(digits, radix).ok())
            .flatten()
    }
}
