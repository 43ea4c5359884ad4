//! What a client line means, read forgivingly, and how it differs from the exact form.
//!
//! Programs written by others print `Connection error 7`, `Connection Timeout`, or
//! `Connection established  7 127.0.0.1 5000` (two spaces, no timestamp). `conform` drives its keyboard
//! and judges timing, sockets and IDs by what such a line *means* ([`read`]), so a client is not
//! failed for its spelling where the requirement is about its behaviour, nor passed because the
//! checker could not read it. The exact form is judged by the format requirements only, from
//! [`Reading::differences`].

use std::net::{IpAddr, SocketAddr};

use chrono::NaiveDateTime;
use connid::lines::{self, Timestamp};

/// What a client line says happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// The connection is established: the program's last line.
    Established,
    /// A try failed (a RESET, or no reply in time).
    Error,
    /// The client gives up.
    Failure,
}

impl Meaning {
    /// The first words of the exact form, from [`connid::lines`]: `Connection` and the word after it.
    fn words(self) -> (&'static str, &'static str) {
        let line = match self {
            Meaning::Established => lines::ESTABLISHED,
            Meaning::Error => lines::ERROR,
            Meaning::Failure => lines::FAILURE,
        };
        line.split_once(' ').unwrap_or((line, ""))
    }

    /// The word after `Connection` in the exact form.
    fn word(self) -> &'static str {
        self.words().1
    }
}

/// A client line as read: its meaning, the parts it has, and how it differs from the exact form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reading {
    pub meaning: Meaning,
    /// The connection ID it names, if any, punctuation around it left out (`Error: 7,` names 7).
    pub id: Option<String>,
    /// The same word as printed, punctuation and all: the ID itself where IDs hold punctuation.
    pub raw_id: Option<String>,
    /// Established only: the address it names, if it names one.
    pub addr: Option<SocketAddr>,
    /// The time it prints, read leniently (any fraction, or none).
    pub at: Option<NaiveDateTime>,
    /// How it differs from the exact form, each in a few words; empty when it is exact.
    pub differences: Vec<String>,
}

/// A word of the line and where it starts.
#[derive(Debug, Clone, Copy)]
struct Word<'a> {
    at: usize,
    text: &'a str,
}

impl Word<'_> {
    /// The word lowercased, without punctuation around it.
    fn bare(&self) -> String {
        self.text
            .trim_matches(|c: char| !c.is_alphanumeric())
            .to_lowercase()
    }
}

fn words(line: &str) -> Vec<Word<'_>> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in line.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                out.push(Word {
                    at: s,
                    text: &line[s..i],
                });
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push(Word {
            at: s,
            text: &line[s..],
        });
    }
    out
}

/// The meaning of the word(s) after `Connection` at `words[i]`, and how many words they take.
fn verb(words: &[Word<'_>], i: usize) -> Option<(Meaning, usize)> {
    let first = words.get(i)?.bare();
    let second = words.get(i + 1).map(Word::bare).unwrap_or_default();
    match first.as_str() {
        "established" | "establish" | "establised" => Some((Meaning::Established, 1)),
        "error" | "timeout" | "timedout" => Some((Meaning::Error, 1)),
        "time" | "timed" if second == "out" => Some((Meaning::Error, 2)),
        "failure" => Some((Meaning::Failure, 1)),
        _ => None,
    }
}

/// A timestamp read leniently from a date word and a time word.
fn timestamp(date: &str, time: &str) -> Option<NaiveDateTime> {
    let text = format!("{date} {time}");
    NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f")
        .or_else(|_| NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S"))
        .ok()
}

/// The spacing of a client line from its first word on: one space between words, nothing after the
/// last; each difference said.
fn spacing(line: &str, line_words: &[Word<'_>], differences: &mut Vec<String>) {
    for pair in line_words.windows(2) {
        let gap = &line[pair[0].at + pair[0].text.len()..pair[1].at];
        if gap != " " {
            let what = match gap.chars().all(|c| c == ' ') {
                true => format!("{} spaces", gap.len()),
                false => format!("{:?}", gap),
            };
            differences.push(format!("{what} after `{}`", pair[0].text));
        }
    }
    if line.len() != line.trim_end().len() {
        differences.push("spaces at the end of the line".to_string());
    }
}

/// What `line` means, if it reads as one of the client's three lines; `None` for any other line.
pub fn read(line: &str) -> Option<Reading> {
    let words = words(line);
    // `connection`, as every client line begins.
    let connection = Meaning::Error.words().0.to_lowercase();
    let (start, (meaning, verb_len)) = words
        .iter()
        .enumerate()
        .filter(|(_, w)| w.bare() == connection)
        .find_map(|(i, _)| Some((i, verb(&words, i + 1)?)))?;
    let mut differences = Vec::new();
    let lead = line[..words[start].at].trim_end();
    if !lead.is_empty() {
        differences.push(format!("text before `Connection`: \"{lead}\""));
    }
    let exact = meaning.words().0;
    if words[start].text != exact {
        differences.push(format!("`{}` instead of `{exact}`", words[start].text));
    }
    let verb_words = &words[start + 1..start + 1 + verb_len];
    let verb_text =
        &line[verb_words[0].at..verb_words[verb_len - 1].at + verb_words[verb_len - 1].text.len()];
    if verb_text != meaning.word() {
        differences.push(format!("`{verb_text}` instead of `{}`", meaning.word()));
    }
    spacing(line, &words[start..], &mut differences);
    // The rest: fields, then (`on` and) a timestamp.
    let rest = &words[start + 1 + verb_len..];
    let stamp = rest
        .windows(2)
        .position(|w| timestamp(w[0].text, w[1].text).is_some());
    let (fields_end, at) = match stamp {
        Some(p) => (p, timestamp(rest[p].text, rest[p + 1].text)),
        None => (rest.len(), None),
    };
    let mut fields: Vec<&str> = rest[..fields_end].iter().map(|w| w.text).collect();
    let has_on = fields.last().is_some_and(|w| w.eq_ignore_ascii_case("on"));
    if has_on {
        fields.pop();
    }
    match (stamp, at) {
        (Some(p), _) => {
            let text = format!("{} {}", rest[p].text, rest[p + 1].text);
            if !has_on {
                differences.push("no `on` before the timestamp".to_string());
            }
            if text.parse::<Timestamp>().is_err() || !exact_fraction(rest[p + 1].text) {
                differences.push(format!(
                    "timestamp \"{text}\" is not shaped YYYY-MM-DD HH:MM:SS.ffffff"
                ));
            }
            let after: Vec<&str> = rest[p + 2..].iter().map(|w| w.text).collect();
            if !after.is_empty() {
                differences.push(format!("text after the timestamp: \"{}\"", after.join(" ")));
            }
        }
        (None, _) => differences.push("no timestamp".to_string()),
    }
    let clean = |f: &str| {
        f.trim_matches(|c: char| matches!(c, ',' | ';' | ':' | '(' | ')' | '[' | ']'))
            .to_string()
    };
    let (id, addr): (Option<(String, String)>, _) = match meaning {
        Meaning::Failure => {
            if !fields.is_empty() {
                differences.push(format!(
                    "extra text before the timestamp: \"{}\"",
                    fields.join(" ")
                ));
            }
            (None, None)
        }
        Meaning::Error => {
            let id = fields.first().map(|f| (clean(f), f.to_string()));
            match fields.len() {
                0 => differences.push("no connection ID".to_string()),
                1 => {}
                _ => differences.push(format!(
                    "extra text after the ID: \"{}\"",
                    fields[1..].join(" ")
                )),
            }
            (id, None)
        }
        Meaning::Established => established_fields(&fields, &clean, &mut differences),
    };
    let (id, raw_id) = id.unzip();
    Some(Reading {
        meaning,
        id,
        raw_id,
        addr,
        at,
        differences,
    })
}

/// Whether a printed time has six digits after the point, as the assignment's examples do.
fn exact_fraction(time: &str) -> bool {
    time.split_once('.')
        .is_some_and(|(_, f)| f.len() == 6 && f.bytes().all(|b| b.is_ascii_digit()))
}

/// The ID and address of an established line from the words before its timestamp: `<id> <ip> <port>`
/// exactly, or read leniently (`<ip>:<port>`, words around them), saying what differs.
fn established_fields(
    fields: &[&str],
    clean: &dyn Fn(&str) -> String,
    differences: &mut Vec<String>,
) -> (Option<(String, String)>, Option<SocketAddr>) {
    let cleaned: Vec<String> = fields.iter().map(|f| clean(f)).collect();
    let ip_at = cleaned.iter().position(|f| f.parse::<IpAddr>().is_ok());
    let joined_at = cleaned.iter().position(|f| f.parse::<SocketAddr>().is_ok());
    let (addr, addr_at, addr_len) = match (ip_at, joined_at) {
        (Some(i), _) => {
            let ip: IpAddr = cleaned[i].parse().expect("checked above");
            let port = cleaned.get(i + 1).and_then(|p| p.parse::<u16>().ok());
            if port.is_none() {
                differences.push("no port after the IP address".to_string());
            }
            (
                port.map(|p| SocketAddr::new(ip, p)),
                Some(i),
                1 + usize::from(port.is_some()),
            )
        }
        (None, Some(i)) => {
            differences.push(format!("\"{}\" instead of `<ip> <port>`", fields[i]));
            (cleaned[i].parse().ok(), Some(i), 1)
        }
        (None, None) => {
            differences.push("no IP address and port".to_string());
            (None, None, 0)
        }
    };
    let before: Vec<&String> = cleaned[..addr_at.unwrap_or(cleaned.len())].iter().collect();
    let id = before
        .last()
        .map(|s| (s.to_string(), fields[before.len() - 1].to_string()));
    match before.len() {
        0 => differences.push("no connection ID".to_string()),
        1 => {}
        _ => differences.push(format!(
            "extra text before the ID: \"{}\"",
            fields[..before.len() - 1].join(" ")
        )),
    }
    if let Some(i) = addr_at {
        let after = &fields[(i + addr_len).min(fields.len())..];
        if !after.is_empty() {
            differences.push(format!(
                "extra text after the port: \"{}\"",
                after.join(" ")
            ));
        }
    }
    (id, addr)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meaning(line: &str) -> Option<Meaning> {
        read(line).map(|r| r.meaning)
    }

    fn differences(line: &str) -> Vec<String> {
        read(line).map(|r| r.differences).unwrap_or_default()
    }

    #[test]
    fn the_exact_forms_read_with_no_difference() {
        for line in [
            "Connection established 1001 127.0.0.1 44702 on 2023-01-16 06:06:06.123456",
            "Connection Error 2678 on 2023-01-16 06:06:06.123456",
            "Connection Failure on 2023-01-16 06:06:06.123456",
        ] {
            assert_eq!(differences(line), Vec::<String>::new(), "{line}");
        }
        let r = read("Connection established 1001 127.0.0.1 44702 on 2023-01-16 06:06:06.123456")
            .unwrap();
        assert_eq!(r.id.as_deref(), Some("1001"));
        assert_eq!(r.addr, Some("127.0.0.1:44702".parse().unwrap()));
        assert!(r.at.is_some());
    }

    #[test]
    fn every_line_connid_prints_reads_exactly() {
        let at: Timestamp = "2023-01-16 06:06:06.123456".parse().unwrap();
        let id = connid::protocol::ConnId::new("7").unwrap();
        for (line, meaning) in [
            (
                lines::ClientLine::Established {
                    id: id.clone(),
                    addr: "127.0.0.1:5000".parse().unwrap(),
                    at,
                },
                Meaning::Established,
            ),
            (lines::ClientLine::Error { id, at }, Meaning::Error),
            (lines::ClientLine::Failure { at }, Meaning::Failure),
        ] {
            let r = read(&line.to_string()).unwrap();
            assert_eq!((r.meaning, r.differences), (meaning, Vec::<String>::new()));
        }
    }

    #[test]
    fn the_forms_seen_in_real_programs_are_read_for_what_they_mean() {
        // Each of these was printed by a real submission.
        let r = read("Connection Error 1001").unwrap();
        assert_eq!((r.meaning, r.id.as_deref()), (Meaning::Error, Some("1001")));
        assert_eq!(r.differences, ["no timestamp"]);
        assert_eq!(meaning("Connection Timeout"), Some(Meaning::Error));
        assert_eq!(
            differences("Connection Timeout"),
            [
                "`Timeout` instead of `Error`",
                "no timestamp",
                "no connection ID"
            ]
        );
        assert_eq!(meaning("Connection Time Out 7"), Some(Meaning::Error));
        assert_eq!(meaning("connection timed out"), Some(Meaning::Error));
        let r = read("Connection error 1002 on 2026-12-02 10:00:00.000001").unwrap();
        assert_eq!((r.meaning, r.id.as_deref()), (Meaning::Error, Some("1002")));
        assert_eq!(r.differences, ["`error` instead of `Error`"]);
        let r = read("Connection established  99999 127.0.0.1 44702").unwrap();
        assert_eq!(r.meaning, Meaning::Established);
        assert_eq!(r.id.as_deref(), Some("99999"));
        assert_eq!(r.addr, Some("127.0.0.1:44702".parse().unwrap()));
        assert_eq!(
            r.differences,
            ["2 spaces after `established`", "no timestamp"]
        );
        assert_eq!(meaning("CONNECTION FAILURE"), Some(Meaning::Failure));
    }

    #[test]
    fn a_prompt_run_into_a_line_is_text_before_it() {
        let r = read("Enter a new connection ID: Connection Error 7 on 2023-01-16 06:06:06.123456")
            .unwrap();
        assert_eq!((r.meaning, r.id.as_deref()), (Meaning::Error, Some("7")));
        assert_eq!(
            r.differences,
            ["text before `Connection`: \"Enter a new connection ID:\""]
        );
    }

    #[test]
    fn timestamps_and_addresses_in_other_shapes_are_read_and_named() {
        assert_eq!(
            differences("Connection Error 7 2023-01-16 06:06:06.123456"),
            ["no `on` before the timestamp"]
        );
        assert_eq!(
            differences("Connection Error 7 on 2023-01-16 06:06:06"),
            ["timestamp \"2023-01-16 06:06:06\" is not shaped YYYY-MM-DD HH:MM:SS.ffffff"]
        );
        let r =
            read("Connection established: 7 127.0.0.1:5000 on 2023-01-16 06:06:06.123456").unwrap();
        assert_eq!(r.addr, Some("127.0.0.1:5000".parse().unwrap()));
        assert_eq!(
            r.differences,
            [
                "`established:` instead of `established`",
                "\"127.0.0.1:5000\" instead of `<ip> <port>`"
            ]
        );
        assert_eq!(
            differences("Connection established 7 on 2023-01-16 06:06:06.123456"),
            ["no IP address and port"]
        );
        assert_eq!(
            differences("Connection Failure on 2023-01-16 06:06:06.123456 bye"),
            ["text after the timestamp: \"bye\""]
        );
        assert_eq!(
            differences("Connection Error 7 on 2023-01-16 06:06:06.12345"),
            ["timestamp \"2023-01-16 06:06:06.12345\" is not shaped YYYY-MM-DD HH:MM:SS.ffffff"]
        );
        let r =
            read("Connection established 127.0.0.1 5000 on 2023-01-16 06:06:06.123456").unwrap();
        assert_eq!(
            (r.id, r.differences),
            (None, vec!["no connection ID".to_string()])
        );
    }

    #[test]
    fn other_lines_mean_nothing() {
        for line in [
            "sending HELLO 7",
            "Enter a new connection ID: ",
            "connection refused by peer",
            "Connection failed, retrying",
            "Connection time 5 s",
            "",
        ] {
            assert_eq!(meaning(line), None, "{line}");
        }
    }
}
