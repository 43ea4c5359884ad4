//! `conform --list`: every case of both suites in one table (its ID, level, transports, what the
//! checker sends and what passes), with the assignment's sentences it checks as numbered notes. The
//! same table is the manual's (`docs/src/conform.md`), checked equal by a test, so the two cannot drift apart.

use std::fmt::Write;

use crate::client_cases::{self, ClientCase};
use crate::server_cases::{self, ServerCase};
use crate::Level;

/// One row of the table.
struct Row {
    id: &'static str,
    level: Level,
    over: &'static str,
    quote: &'static str,
    sends: String,
    passes: &'static str,
}

fn server_rows(case: &ServerCase) -> Vec<Row> {
    let over = if case.tcp_only { "tcp" } else { "udp, tcp" };
    let mut rows = vec![Row {
        id: case.id,
        level: case.level,
        over,
        quote: case.quote,
        sends: case.sends.to_string(),
        passes: case.expect,
    }];
    if let Some(also) = &case.also {
        rows.push(Row {
            id: also.id,
            level: also.level,
            over,
            quote: also.quote,
            sends: format!("judged on the run of {}", case.id),
            passes: also.expect,
        });
    }
    rows
}

fn client_row(case: &ClientCase) -> Row {
    Row {
        id: case.id,
        level: case.level,
        over: if case.udp_only { "udp" } else { "udp, tcp" },
        quote: case.quote,
        sends: case.sends(),
        passes: case.expect,
    }
}

/// A table cell: its text with `|` escaped, on one line.
fn cell(text: &str) -> String {
    // `<` escaped: `<port>` would read as an HTML tag and vanish from the rendered table.
    text.replace('|', "\\|")
        .replace('\n', " ")
        .replace('<', "&lt;")
}

/// The table of every case, as Markdown, with the sentences after it.
pub fn table() -> String {
    let rows: Vec<Row> = server_cases::cases()
        .iter()
        .flat_map(server_rows)
        .chain(client_cases::cases().iter().map(client_row))
        .collect();
    let mut quotes: Vec<&'static str> = Vec::new();
    let mut out = String::from(
        "| case | level | over | the assignment | the checker sends | passes when |\n\
         |---|---|---|---|---|---|\n",
    );
    for row in &rows {
        let n = match quotes.iter().position(|q| *q == row.quote) {
            Some(i) => i + 1,
            None => {
                quotes.push(row.quote);
                quotes.len()
            }
        };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | [{n}] | {} | {} |",
            row.id,
            row.level,
            row.over,
            cell(&row.sends),
            cell(row.passes)
        );
    }
    out.push('\n');
    for (i, quote) in quotes.iter().enumerate() {
        let _ = writeln!(out, "[{}] \u{201c}{}\u{201d}\n", i + 1, quote);
    }
    out.pop();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_and_every_sentence_is_listed_once() {
        let table = table();
        let ids: Vec<&str> = server_cases::cases()
            .iter()
            .flat_map(|c| std::iter::once(c.id).chain(c.also.as_ref().map(|a| a.id)))
            .chain(client_cases::cases().iter().map(|c| c.id))
            .collect();
        for id in &ids {
            assert_eq!(table.matches(&format!("| `{id}` |")).count(), 1, "{id}");
        }
        let rows = table.lines().filter(|l| l.starts_with("| `")).count();
        assert_eq!(rows, ids.len());
        // Each sentence once, numbered in order of first use, and every number used is defined.
        let notes: Vec<&str> = table.lines().filter(|l| l.starts_with('[')).collect();
        for (i, note) in notes.iter().enumerate() {
            assert!(note.starts_with(&format!("[{}] \u{201c}", i + 1)), "{note}");
            assert!(table.contains(&format!("| [{}] |", i + 1)), "{note}");
        }
        assert!(!table.contains(&format!("| [{}] |", notes.len() + 1)));
        // Each row cites the note of its own case's sentence.
        let quotes: Vec<(&str, &str)> = server_cases::cases()
            .iter()
            .flat_map(|c| {
                std::iter::once((c.id, c.quote)).chain(c.also.as_ref().map(|a| (a.id, a.quote)))
            })
            .chain(client_cases::cases().iter().map(|c| (c.id, c.quote)))
            .collect();
        for line in table.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split(" | ").collect();
            let id = cells[0].trim_start_matches("| `").trim_end_matches('`');
            let n: usize = cells[3].trim_matches(['[', ']']).parse().unwrap();
            let quote = quotes.iter().find(|(i, _)| *i == id).unwrap().1;
            assert_eq!(
                notes[n - 1],
                format!("[{n}] \u{201c}{quote}\u{201d}"),
                "{line}"
            );
        }
    }

    #[test]
    fn a_cell_stays_one_cell() {
        assert_eq!(cell("a | b\nc"), "a \\| b c");
        assert_eq!(cell("<id> on <now>"), "&lt;id> on &lt;now>");
    }
}
