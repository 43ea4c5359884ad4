//! A run as a sequence diagram: hosts side by side, messages as arrows between them (a lost one
//! crossed out), and notes for what a host printed, was typed, or did. One model, two drawings:
//! Mermaid text (it renders on GitHub) and an SVG image drawn here, so an HTML report shows the
//! diagram offline with no script.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::net::SocketAddr;
use std::time::Duration;

use crate::events::{secs, EventKind};
use crate::runner::Run;
use crate::scenario::SERVER;
use crate::transcript::{describe, payload};

/// A run drawn as hosts and what passed between them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Diagram {
    /// The hosts, in the order they are drawn: each name with its label (`server (127.0.0.1)`).
    pub participants: Vec<(String, String)>,
    pub steps: Vec<Step>,
}

/// Which hosts a note is drawn over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Over {
    Host(String),
    /// From the first host to the last.
    All,
}

/// One row of the diagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A message sent at `at`; `arrives` is `None` for one that was lost.
    Message {
        at: Duration,
        from: String,
        to: String,
        text: String,
        arrives: Option<Duration>,
    },
    /// Something said over hosts, at a time (the title has none).
    Note {
        at: Option<Duration>,
        over: Over,
        text: String,
    },
}

/// The diagram of `run`, titled with the scenario's (or case's) `name`.
pub fn of(name: &str, run: &Run) -> Diagram {
    let hosts = &run.hosts;
    // Who sent from each address: on real sockets every host shares 127.0.0.1, so the address's port
    // tells them apart; otherwise its IP does.
    let mut senders: BTreeMap<SocketAddr, &str> = BTreeMap::new();
    for e in &run.events {
        if let EventKind::Send { from, .. } | EventKind::Connected { from, .. } = &e.kind {
            senders.entry(*from).or_insert(&e.host);
        }
    }
    let host_of = |addr: &SocketAddr| -> String {
        match senders.get(addr) {
            Some(host) => host.to_string(),
            None => hosts
                .iter()
                .find(|(_, ip)| *ip == addr.ip())
                .map_or_else(|| addr.ip().to_string(), |(h, _)| h.clone()),
        }
    };
    let mut steps = vec![Step::Note {
        at: None,
        over: Over::All,
        text: format!("scenario {name} over {:?}", run.transport),
    }];
    for event in &run.events {
        let at = event.at;
        steps.push(match &event.kind {
            EventKind::Send {
                transport,
                to,
                payload: bytes,
                delivered,
                ..
            } => Step::Message {
                at,
                from: event.host.clone(),
                to: host_of(to),
                text: format!("{transport} {}", payload(bytes)),
                arrives: *delivered,
            },
            EventKind::Fault { text, .. } => Step::Note {
                at: Some(at),
                over: Over::All,
                text: text.clone(),
            },
            kind => {
                let (what, detail) = describe(kind);
                Step::Note {
                    at: Some(at),
                    over: Over::Host(event.host.clone()),
                    text: format!("{what}: {detail}"),
                }
            }
        });
    }
    Diagram {
        participants: hosts
            .iter()
            .map(|(h, ip)| (h.clone(), format!("{h} ({ip})")))
            .collect(),
        steps,
    }
}

/// Escapes text for a Mermaid message or note.
fn mermaid_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            ';' => out.push_str("#59;"),
            '<' => out.push_str("#60;"),
            '>' => out.push_str("#62;"),
            c => out.push(c),
        }
    }
    out
}

/// `text` as XML character data or an attribute value: escaped, and without the control characters
/// XML 1.0 cannot hold. For the SVG here, the HTML report and JUnit alike.
pub fn xml_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// How a message's time reads: `0.001000`, and where it arrived ` (arrives 0.002000)` or ` (LOST)`.
fn arrival(arrives: Option<Duration>) -> String {
    match arrives {
        Some(at) => format!(" (arrives {})", secs(at)),
        None => " (LOST)".to_string(),
    }
}

/// Width of one character of the SVG's 12-pixel monospace text, a little generous.
const CHAR: f64 = 7.3;
/// Left of the first lifeline: the time column.
const GUTTER: f64 = 84.0;
const HEADER: f64 = 44.0;
const MESSAGE_ROW: f64 = 34.0;
const NOTE_ROW: f64 = 22.0;

/// An arrowhead whose tip is at (`x`, `y`), pointing right (`direction` 1) or left (-1). Drawn, not
/// a marker: a marker needs an ID, and a page of many diagrams would hold it many times.
fn head(x: f64, y: f64, direction: f64, colour: &str) -> String {
    let back = x - 8.0 * direction;
    format!(
        r##"<path d="M{x:.0} {y:.0} L{back:.0} {:.0} L{back:.0} {:.0} z" fill="{colour}"/>"##,
        y - 4.0,
        y + 4.0
    )
}

fn text_width(text: &str) -> f64 {
    text.chars().count() as f64 * CHAR
}

impl Diagram {
    /// The first host and the last, as Mermaid names a note over all of them.
    fn span(&self) -> String {
        match (self.participants.first(), self.participants.last()) {
            (Some((first, _)), Some((last, _))) if first != last => format!("{first},{last}"),
            (Some((first, _)), _) => first.clone(),
            _ => SERVER.to_string(),
        }
    }

    /// The diagram as a Mermaid `sequenceDiagram`.
    pub fn mermaid(&self) -> String {
        let mut out = String::from("sequenceDiagram\n");
        for (name, label) in &self.participants {
            let _ = writeln!(out, "    participant {name} as {label}");
        }
        let span = self.span();
        for step in &self.steps {
            match step {
                Step::Message {
                    at,
                    from,
                    to,
                    text,
                    arrives,
                } => {
                    let arrow = if arrives.is_some() { "->>" } else { "-x" };
                    let _ = writeln!(
                        out,
                        "    {from}{arrow}{to}: {} {}{}",
                        secs(*at),
                        mermaid_text(text),
                        arrival(*arrives)
                    );
                }
                Step::Note { at, over, text } => {
                    let over = match over {
                        Over::Host(h) => h.as_str(),
                        Over::All => span.as_str(),
                    };
                    let at = at.map_or_else(String::new, |t| format!("{} ", secs(t)));
                    let _ = writeln!(out, "    Note over {over}: {at}{}", mermaid_text(text));
                }
            }
        }
        out
    }

    /// Every host drawn, in order: the participants, then any host a step names that they do not.
    fn lifelines(&self) -> Vec<(String, String)> {
        let mut lines = self.participants.clone();
        let mut add = |name: &str| {
            if !lines.iter().any(|(n, _)| n == name) {
                lines.push((name.to_string(), name.to_string()));
            }
        };
        for step in &self.steps {
            match step {
                Step::Message { from, to, .. } => {
                    add(from);
                    add(to);
                }
                Step::Note {
                    over: Over::Host(h),
                    ..
                } => add(h),
                Step::Note { .. } => {}
            }
        }
        lines
    }

    /// The diagram as a self-contained SVG image (no script, no external font or style): a time
    /// column, a lifeline per host, arrows labelled with what was sent (red, dashed and crossed out
    /// when lost), and notes over a host.
    pub fn svg(&self) -> String {
        let lines = self.lifelines();
        let widest_message = self
            .steps
            .iter()
            .filter_map(|s| match s {
                Step::Message { text, arrives, .. } => {
                    Some(text_width(&format!("{text}{}", arrival(*arrives))))
                }
                Step::Note { .. } => None,
            })
            .fold(0.0, f64::max);
        let widest_label = lines.iter().map(|(_, l)| text_width(l)).fold(0.0, f64::max);
        let spacing = (widest_message + 24.0)
            .max(widest_label + 24.0)
            .clamp(220.0, 680.0);
        let x_of = |name: &str| -> f64 {
            let i = lines.iter().position(|(n, _)| n == name).unwrap_or(0);
            GUTTER + 20.0 + widest_label / 2.0 + i as f64 * spacing
        };
        let last_x = x_of(lines.last().map_or("", |(n, _)| n.as_str()));
        let mut right = last_x + widest_label / 2.0 + 20.0;
        let mut body = String::new();
        let mut y = HEADER + 10.0;
        for step in &self.steps {
            match step {
                Step::Message {
                    at,
                    from,
                    to,
                    text,
                    arrives,
                } => {
                    let label = format!("{text}{}", arrival(*arrives));
                    let arrow = Arrow {
                        x1: x_of(from),
                        x2: x_of(to),
                        to_itself: from == to,
                        arrives: arrives.is_some(),
                    };
                    right = right.max(message_svg(&mut body, y, *at, &label, arrow));
                    y += MESSAGE_ROW;
                }
                Step::Note { at, over, text } => {
                    let x = match over {
                        Over::Host(h) => x_of(h) - 6.0,
                        Over::All => GUTTER + 10.0,
                    };
                    right = right.max(note_svg(&mut body, y, *at, x, text));
                    y += NOTE_ROW;
                }
            }
        }
        let height = y + 10.0;
        let width = right + 10.0;
        let mut out = format!(
            r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" role="img" font-family="monospace" font-size="12">"##
        );
        out.push('\n');
        for (name, label) in &lines {
            let x = x_of(name);
            let box_width = text_width(label) + 16.0;
            let _ = writeln!(
                out,
                r##"<line x1="{x:.0}" y1="{HEADER:.0}" x2="{x:.0}" y2="{:.0}" stroke="#999" stroke-dasharray="3 3"/><rect x="{:.0}" y="8" width="{box_width:.0}" height="26" rx="4" fill="#e8eefc" stroke="#5c7cba"/><text x="{x:.0}" y="26" text-anchor="middle" font-weight="bold">{}</text>"##,
                height - 6.0,
                x - box_width / 2.0,
                xml_text(label)
            );
        }
        out.push_str(&body);
        out.push_str("</svg>");
        out
    }
}

/// Where a message's arrow runs, and how it ends.
#[derive(Clone, Copy)]
struct Arrow {
    x1: f64,
    x2: f64,
    /// From a host to itself: a loop back.
    to_itself: bool,
    /// Delivered (a solid arrow), or lost (dashed, ending in a cross).
    arrives: bool,
}

/// One message row of the SVG at height `y`: its time, its label and its arrow; how far right it
/// reaches.
fn message_svg(body: &mut String, y: f64, at: Duration, label: &str, arrow: Arrow) -> f64 {
    let Arrow { x1, x2, .. } = arrow;
    let left = x1.min(x2);
    let _ = writeln!(
        body,
        r##"<text x="4" y="{:.0}" fill="#555">{}</text><text x="{:.0}" y="{:.0}">{}</text>"##,
        y + 14.0,
        secs(at),
        left + 6.0,
        y + 12.0,
        xml_text(label)
    );
    let line_y = y + 22.0;
    if arrow.to_itself {
        let colour = if arrow.arrives { "#222" } else { "#c62828" };
        let _ = writeln!(
            body,
            r##"<path d="M{x1:.0} {:.0} h30 v8 h-30" fill="none" stroke="{colour}"/>{}"##,
            line_y - 4.0,
            head(x1, line_y + 4.0, -1.0, colour)
        );
    } else if arrow.arrives {
        let _ = writeln!(
            body,
            r##"<line x1="{x1:.0}" y1="{line_y:.0}" x2="{x2:.0}" y2="{line_y:.0}" stroke="#222"/>{}"##,
            head(x2, line_y, (x2 - x1).signum(), "#222")
        );
    } else {
        let end = x1 + (x2 - x1) * 0.75;
        let _ = writeln!(
            body,
            r##"<line x1="{x1:.0}" y1="{line_y:.0}" x2="{end:.0}" y2="{line_y:.0}" stroke="#c62828" stroke-dasharray="5 3"/><text x="{:.0}" y="{:.0}" fill="#c62828" font-weight="bold">&#x2715;</text>"##,
            end - 4.0,
            line_y + 4.0
        );
    }
    left + 6.0 + text_width(label)
}

/// One note row of the SVG at height `y`, its box from `x`: its time (if it has one) and its text;
/// how far right it reaches.
fn note_svg(body: &mut String, y: f64, at: Option<Duration>, x: f64, text: &str) -> f64 {
    let width = text_width(text) + 12.0;
    if let Some(at) = at {
        let _ = write!(
            body,
            r##"<text x="4" y="{:.0}" fill="#555">{}</text>"##,
            y + 15.0,
            secs(at)
        );
    }
    let _ = writeln!(
        body,
        r##"<rect x="{x:.0}" y="{:.0}" width="{width:.0}" height="18" fill="#fff8c4" stroke="#d8c86a"/><text x="{:.0}" y="{:.0}">{}</text>"##,
        y + 2.0,
        x + 6.0,
        y + 15.0,
        xml_text(text)
    );
    x + width
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagram() -> Diagram {
        let s = Duration::from_secs;
        Diagram {
            participants: vec![
                ("server".into(), "server (127.0.0.1)".into()),
                ("c1".into(), "c1 (127.0.0.1)".into()),
            ],
            steps: vec![
                Step::Note {
                    at: None,
                    over: Over::All,
                    text: "scenario x over Udp".into(),
                },
                Step::Message {
                    at: s(1),
                    from: "c1".into(),
                    to: "server".into(),
                    text: "udp \"HELLO <7>\"".into(),
                    arrives: Some(s(2)),
                },
                Step::Message {
                    at: s(3),
                    from: "server".into(),
                    to: "c1".into(),
                    text: "udp \"OK 7\"".into(),
                    arrives: None,
                },
                Step::Note {
                    at: Some(s(4)),
                    over: Over::Host("c9".into()),
                    text: "out: a;b # c".into(),
                },
            ],
        }
    }

    #[test]
    fn mermaid_text_escapes_what_breaks_a_diagram() {
        assert_eq!(mermaid_text("a;b#c -> d"), "a#59;b#35;c -#62; d");
    }

    #[test]
    fn mermaid_draws_each_step_in_order() {
        assert_eq!(
            diagram().mermaid(),
            "sequenceDiagram\n\
             \x20   participant server as server (127.0.0.1)\n\
             \x20   participant c1 as c1 (127.0.0.1)\n\
             \x20   Note over server,c1: scenario x over Udp\n\
             \x20   c1->>server: 1.000000 udp \"HELLO #60;7#62;\" (arrives 2.000000)\n\
             \x20   server-xc1: 3.000000 udp \"OK 7\" (LOST)\n\
             \x20   Note over c9: 4.000000 out: a#59;b #35; c\n"
        );
    }

    #[test]
    fn the_svg_has_a_lifeline_per_host_an_arrow_per_message_and_escaped_text() {
        let svg = diagram().svg();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.ends_with("</svg>"));
        // Two participants and a host only a note names.
        assert_eq!(svg.matches("stroke-dasharray=\"3 3\"").count(), 3);
        assert!(svg.contains(">c9</text>"));
        // One delivered arrow with a head, one lost: dashed red and crossed out.
        assert_eq!(svg.matches("z\" fill=\"#222\"/>").count(), 1);
        assert!(
            !svg.contains(" id="),
            "an ID would repeat on a page of diagrams"
        );
        assert_eq!(
            svg.matches("stroke=\"#c62828\" stroke-dasharray").count(),
            1
        );
        assert!(svg.contains("&#x2715;"));
        assert!(svg.contains("udp &quot;HELLO &lt;7&gt;&quot; (arrives 2.000000)"));
        assert!(svg.contains("udp &quot;OK 7&quot; (LOST)"));
        assert!(svg.contains(">out: a;b # c</text>"));
        assert!(!svg.contains("<7>"));
    }

    #[test]
    fn xml_text_escapes_markup_and_replaces_control_characters() {
        assert_eq!(
            xml_text("<a href=\"x\">&'\u{1}\t\r\n\u{ffff}"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&apos;\u{fffd}\t\r\n\u{fffd}"
        );
    }

    /// Each element of an SVG as (name, attributes, text).
    fn elements(svg: &str) -> Vec<(String, std::collections::BTreeMap<String, String>, String)> {
        let doc = roxmltree::Document::parse(svg).expect("well-formed SVG");
        doc.descendants()
            .filter(|n| n.is_element())
            .map(|n| {
                let attrs = n
                    .attributes()
                    .map(|a| (a.name().to_string(), a.value().to_string()))
                    .collect();
                (
                    n.tag_name().name().to_string(),
                    attrs,
                    n.text().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    fn num(attrs: &std::collections::BTreeMap<String, String>, name: &str) -> f64 {
        attrs[name].parse().unwrap()
    }

    /// How wide 12-pixel monospace text is drawn, reckoned apart from the code under test.
    fn px(text: &str) -> f64 {
        text.chars().count() as f64 * 7.3
    }

    #[test]
    fn a_label_fits_between_its_lifelines_and_the_picture_is_no_bigger_than_its_parts() {
        let s = Duration::from_millis;
        let text = format!("udp \"{}\"", "y".repeat(40));
        let d = Diagram {
            participants: vec![
                ("server".into(), "server (10.0.0.1)".into()),
                ("c1".into(), "c1 (10.0.0.2)".into()),
            ],
            steps: vec![
                Step::Note {
                    at: None,
                    over: Over::All,
                    text: "scenario x over Udp".into(),
                },
                Step::Message {
                    at: s(1),
                    from: "c1".into(),
                    to: "server".into(),
                    text: text.clone(),
                    arrives: Some(s(2)),
                },
                Step::Note {
                    at: Some(s(3)),
                    over: Over::Host("c1".into()),
                    text: "exit: 0".into(),
                },
            ],
        };
        let all = elements(&d.svg());
        let root = &all[0].1;
        let (width, height) = (num(root, "width"), num(root, "height"));
        let lifelines: Vec<f64> = all
            .iter()
            .filter(|(n, a, _)| {
                n == "line" && a.get("stroke-dasharray").map(String::as_str) == Some("3 3")
            })
            .map(|(_, a, _)| num(a, "x1"))
            .collect();
        let label = all
            .iter()
            .find(|(n, _, t)| n == "text" && t.starts_with("udp"))
            .map(|(_, a, t)| (num(a, "x"), num(a, "y"), t.clone()))
            .unwrap();
        // The label starts just right of the left lifeline and ends before the right one.
        assert_eq!(label.0, lifelines[0] + 6.0);
        assert!(
            label.0 + px(&label.2) <= lifelines[1],
            "{label:?} {lifelines:?}"
        );
        assert!(
            lifelines[1] - lifelines[0] <= px(&label.2) + 40.0,
            "no wider than the label needs"
        );
        // The first header box starts right after the time column.
        let first_box = all
            .iter()
            .find(|(n, a, _)| n == "rect" && a["y"] == "8")
            .map(|(_, a, _)| num(a, "x"))
            .unwrap();
        assert!((GUTTER..=GUTTER + 40.0).contains(&first_box), "{first_box}");
        // Notes: a box just wider than its text; one over every host starts at the time column.
        let notes: Vec<(f64, f64)> = all
            .iter()
            .filter(|(n, a, _)| n == "rect" && a["fill"] == "#fff8c4")
            .map(|(_, a, _)| (num(a, "x"), num(a, "width")))
            .collect();
        assert_eq!(notes.len(), 2);
        assert!((GUTTER..=GUTTER + 20.0).contains(&notes[0].0), "{notes:?}");
        assert!(
            (px("scenario x over Udp")..=px("scenario x over Udp") + 20.0).contains(&notes[0].1)
        );
        assert!(
            (px("exit: 0")..=px("exit: 0") + 20.0).contains(&notes[1].1),
            "{notes:?}"
        );
        // Nothing reaches past the picture, and the picture is no bigger than what it holds.
        let mut right: f64 = 0.0;
        let mut bottom: f64 = 0.0;
        for (n, a, t) in &all {
            let (r, b) = match n.as_str() {
                "text" if a.get("text-anchor").is_none() => (num(a, "x") + px(t), num(a, "y")),
                "text" => (num(a, "x") + px(t) / 2.0, num(a, "y")),
                "rect" => (
                    num(a, "x") + num(a, "width"),
                    num(a, "y") + num(a, "height"),
                ),
                "line" => (
                    num(a, "x1").max(num(a, "x2")),
                    num(a, "y1").max(num(a, "y2")),
                ),
                _ => continue,
            };
            assert!(r <= width && b <= height, "{n} {a:?} {t}");
            right = right.max(r);
            bottom = bottom.max(b);
        }
        assert!(width - right <= 50.0, "{width} for {right}");
        assert!(height - bottom <= 30.0, "{height} for {bottom}");
        // Two rows: a message and a note, each as tall as its kind.
        let times: Vec<f64> = all
            .iter()
            .filter(|(n, a, _)| n == "text" && a["x"] == "4")
            .map(|(_, a, _)| num(a, "y"))
            .collect();
        assert_eq!(times.len(), 2);
        assert!(
            (times[1] - times[0] - MESSAGE_ROW).abs() <= 2.0,
            "{times:?}"
        );
        assert!(
            height <= HEADER + NOTE_ROW + MESSAGE_ROW + NOTE_ROW + 30.0,
            "{height}"
        );
        assert!((label.1 - times[0]).abs() <= 4.0, "a label sits on its row");
    }

    #[test]
    fn every_arrow_runs_between_its_lifelines_and_everything_fits_the_picture() {
        let s = Duration::from_millis;
        let long = "x".repeat(90);
        let d = Diagram {
            participants: ["server", "alice", "bob"]
                .map(|h| (h.to_string(), format!("{h} (192.168.0.1)")))
                .to_vec(),
            steps: vec![
                Step::Message {
                    at: s(10),
                    from: "alice".into(),
                    to: "server".into(),
                    text: "udp \"HELLO 1\"".into(),
                    arrives: Some(s(11)),
                },
                Step::Message {
                    at: s(11),
                    from: "server".into(),
                    to: "bob".into(),
                    text: format!("udp \"{long}\""),
                    arrives: Some(s(12)),
                },
                Step::Message {
                    at: s(12),
                    from: "bob".into(),
                    to: "server".into(),
                    text: "udp \"RESET 1\"".into(),
                    arrives: None,
                },
                Step::Note {
                    at: Some(s(13)),
                    over: Over::Host("bob".into()),
                    text: format!("out: {long}"),
                },
            ],
        };
        let svg = d.svg();
        let all = elements(&svg);
        let root = &all[0].1;
        let (width, height) = (num(root, "width"), num(root, "height"));
        assert_eq!(root["viewBox"], format!("0 0 {width} {height}"));
        // A lifeline per host, left to right in order, far enough apart for the widest label.
        let lifelines: Vec<f64> = all
            .iter()
            .filter(|(n, a, _)| {
                n == "line" && a.get("stroke-dasharray").map(String::as_str) == Some("3 3")
            })
            .map(|(_, a, _)| {
                assert_eq!(num(a, "x1"), num(a, "x2"));
                assert_eq!(num(a, "y1"), HEADER);
                assert!(num(a, "y2") > height - 10.0 && num(a, "y2") <= height);
                num(a, "x1")
            })
            .collect();
        assert_eq!(lifelines.len(), 3);
        let widest = px(&format!("udp \"{long}\" (arrives 0.012000)"));
        for pair in lifelines.windows(2) {
            assert!(
                pair[1] - pair[0] >= widest.min(680.0) - 1.0,
                "{lifelines:?}"
            );
        }
        let x = |host: usize| lifelines[host];
        // Every text fits: inside the picture, left to right.
        let texts: Vec<(f64, f64, &str)> = all
            .iter()
            .filter(|(n, _, _)| n == "text")
            .map(|(_, a, t)| (num(a, "x"), num(a, "y"), t.as_str()))
            .collect();
        for &(tx, ty, t) in &texts {
            assert!(tx >= 0.0 && ty > 0.0 && ty <= height, "{t} at {tx},{ty}");
            if !t.contains("(192.168.0.1)") {
                assert!(tx + px(t) <= width, "{t} overflows {width}");
            }
        }
        // The header boxes are centred on their lifelines and hold their labels.
        let boxes: Vec<(f64, f64)> = all
            .iter()
            .filter(|(n, a, _)| n == "rect" && a["y"] == "8")
            .map(|(_, a, _)| (num(a, "x"), num(a, "width")))
            .collect();
        assert_eq!(boxes.len(), 3);
        for (i, (bx, bw)) in boxes.iter().enumerate() {
            assert!((bx + bw / 2.0 - x(i)).abs() <= 1.0);
            assert!(*bw >= px(&d.participants[i].1));
            assert!(*bx >= 0.0 && bx + bw <= width);
        }
        // Delivered arrows: from the sender's lifeline to the receiver's, a head at the receiver.
        let arrows: Vec<(f64, f64, f64)> = all
            .iter()
            .filter(|(n, a, _)| n == "line" && a.get("stroke").map(String::as_str) == Some("#222"))
            .map(|(_, a, _)| (num(a, "x1"), num(a, "x2"), num(a, "y1")))
            .collect();
        assert_eq!(arrows.len(), 2);
        assert_eq!((arrows[0].0, arrows[0].1), (x(1), x(0)));
        assert_eq!((arrows[1].0, arrows[1].1), (x(0), x(2)));
        assert!(arrows[0].2 < arrows[1].2, "rows go down");
        let heads: Vec<&str> = all
            .iter()
            .filter(|(n, a, _)| n == "path" && a.get("fill").map(String::as_str) == Some("#222"))
            .map(|(_, a, _)| a["d"].as_str())
            .collect();
        assert_eq!(
            heads,
            [
                format!(
                    "M{} {} L{} {} L{} {} z",
                    x(0),
                    arrows[0].2,
                    x(0) + 8.0,
                    arrows[0].2 - 4.0,
                    x(0) + 8.0,
                    arrows[0].2 + 4.0
                ),
                format!(
                    "M{} {} L{} {} L{} {} z",
                    x(2),
                    arrows[1].2,
                    x(2) - 8.0,
                    arrows[1].2 - 4.0,
                    x(2) - 8.0,
                    arrows[1].2 + 4.0
                ),
            ]
        );
        // The lost one leaves its sender and stops short, crossed out.
        let lost = all
            .iter()
            .find(|(n, a, _)| n == "line" && a.get("stroke").map(String::as_str) == Some("#c62828"))
            .map(|(_, a, _)| (num(a, "x1"), num(a, "x2"), num(a, "y1")))
            .unwrap();
        assert_eq!(lost.0, x(2));
        let short = (lost.1 - x(0)) / (x(2) - x(0));
        assert!(
            (0.2..=0.3).contains(&short),
            "stops a quarter short: {short}"
        );
        assert!(lost.2 > arrows[1].2);
        // Each label sits above its arrow, starting just right of the leftmost of its two lifelines.
        let label = |needle: &str| {
            texts
                .iter()
                .find(|t| t.2.contains(needle))
                .copied()
                .unwrap()
        };
        let hello = label("HELLO 1");
        assert_eq!(hello.0, x(0) + 6.0);
        assert!(hello.1 < arrows[0].2 && arrows[0].2 - hello.1 <= 14.0);
        let reset = label("RESET 1");
        assert_eq!(reset.0, x(0) + 6.0);
        assert!(reset.1 < lost.2);
        // Times in the left column, one per step, going down.
        let times: Vec<(f64, &str)> = texts
            .iter()
            .filter(|t| t.0 == 4.0)
            .map(|t| (t.1, t.2))
            .collect();
        assert_eq!(
            times.iter().map(|t| t.1).collect::<Vec<_>>(),
            ["0.010000", "0.011000", "0.012000", "0.013000"]
        );
        assert!(times.windows(2).all(|w| w[1].0 - w[0].0 >= NOTE_ROW));
        // The note is a box over bob's lifeline that holds its text.
        let note = all
            .iter()
            .find(|(n, a, _)| n == "rect" && a["fill"] == "#fff8c4")
            .map(|(_, a, _)| (num(a, "x"), num(a, "y"), num(a, "width")))
            .unwrap();
        assert!(note.0 <= x(2) && x(2) <= note.0 + note.2);
        assert!(note.2 >= px(&format!("out: {long}")));
        assert!(note.0 + note.2 <= width);
        let note_text = label("out: xxx");
        assert!(note_text.0 > note.0 && note_text.1 > note.1 && note_text.1 <= note.1 + 18.0);
        assert!(note.1 > lost.2 - MESSAGE_ROW);
    }
}
