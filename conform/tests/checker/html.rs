//! The HTML report's structure on a report built by hand: every cell links to its case's details,
//! every failure has its diagram, names and reasons are escaped, and nothing needs a script or the
//! network. (`matrix.rs` checks the same on a real matrix run.)

use crate::support;

use std::time::Duration;

use conform::graded::{Graded, Role, SuiteRun};
use conform::html::html;
use conform::{CaseResult, Finding, Level, Verdict};
use connid::Transport;
use connid_sim::diagram::{Diagram, Over, Step};

fn result(id: &'static str, level: Level, transport: Transport, verdict: Verdict) -> CaseResult {
    let mut r = CaseResult::new(id, "the server <answers>", level, transport)
        .described("", "an OK & a RESET");
    r.verdict = verdict;
    r.transcript = "0.000000  server  start  srv\n".into();
    r.diagram = Diagram {
        participants: vec![("server".into(), "server (127.0.0.1)".into())],
        steps: vec![Step::Note {
            at: Some(Duration::ZERO),
            over: Over::Host("server".into()),
            text: "start: srv".into(),
        }],
    };
    r.wall = Duration::from_millis(300);
    r
}

fn failed(reason: &str) -> Verdict {
    Verdict::Fail {
        reason: reason.into(),
        details: vec![Finding {
            rule: None,
            message: reason.into(),
        }],
    }
}

fn graded() -> Vec<Graded> {
    let server = |verdicts: [Verdict; 3]| {
        let [a, b, c] = verdicts;
        // The server suite ran on the virtual clock.
        let on_clock = |mut r: CaseResult| {
            r.clock = Some(conform::clock::Report::default());
            r
        };
        SuiteRun {
            role: Role::Server,
            note: None,
            results: vec![
                on_clock(result("server.a", Level::Required, Transport::Udp, a)),
                on_clock(result("server.b", Level::Robustness, Transport::Udp, b)),
                on_clock(result("server.a", Level::Required, Transport::Tcp, c)),
            ],
        }
    };
    let client = |verdict| SuiteRun {
        role: Role::Client,
        note: Some("the virtual clock <could not> be set up".into()),
        results: vec![result(
            "client.x",
            Level::Convention,
            Transport::Udp,
            verdict,
        )],
    };
    vec![
        Graded {
            name: "alice".into(),
            explored: Vec::new(),
            runs: vec![
                server([Verdict::Pass, Verdict::Pass, Verdict::Pass]),
                client(Verdict::Pass),
            ],
        },
        Graded {
            name: "<script>bob</script> & co".into(),
            explored: Vec::new(),
            runs: vec![
                server([
                    failed("no \"OK\" <here>"),
                    Verdict::Pass,
                    Verdict::Unsupported("no tcp".into()),
                ]),
                client(failed("late")),
            ],
        },
    ]
}

#[test]
fn every_cell_links_to_its_details_and_every_failure_has_a_diagram() {
    let page = html("conform matrix: a & b", &graded());
    let checked = support::html_check::check(&page);
    assert_eq!(
        checked,
        support::html_check::Checked {
            cells: 8,
            details: 8,
            failures: 2,
            diagrams: 8
        }
    );
    // Columns grouped by suite and transport, in the suites' order.
    let groups: Vec<&str> = page
        .match_indices("class=\"group\">")
        .map(|(i, m)| {
            let rest = &page[i + m.len()..];
            &rest[..rest.find('<').unwrap()]
        })
        .collect();
    assert_eq!(groups, ["server · udp", "server · tcp", "client · udp"]);
    // Each implementation's summary, clock and note.
    assert!(page.contains(
        "server: required 2/2 passed, robustness 1/1 passed, 0 unsupported (on the virtual clock)"
    ));
    assert!(page.contains("client: convention 1/1 passed, 0 unsupported (at real time)"));
    assert!(page.contains("note: the virtual clock &lt;could not&gt; be set up"));
    // What a program printed or a name holds is text, never markup.
    assert!(!page.contains("<script>"));
    assert!(page.contains("&lt;script&gt;bob&lt;/script&gt; &amp; co"));
    assert!(page.contains("no &quot;OK&quot; &lt;here&gt;"));
    // A failure's cell says why in its tooltip, coloured by its level.
    assert!(page.contains(
        "<td class=\"cell required fail\"><a href=\"#script-bob-script-co/server/udp/server.a\" title=\"server.a [udp, required] fail: no &quot;OK&quot; &lt;here&gt;\">"
    ));
    assert!(page.contains(
        "<td class=\"cell convention fail\"><a href=\"#script-bob-script-co/client/udp/client.x\""
    ));
    assert!(page.contains("<td class=\"cell required unsupported\"><a href=\"#script-bob-script-co/server/tcp/server.a\""));
    // A failure shows its diagram and transcript; a pass keeps them folded away.
    let pass = &page[page
        .find("<article id=\"alice/server/udp/server.a\"")
        .unwrap()..];
    let pass = &pass[..pass.find("</article>").unwrap()];
    assert!(
        pass.contains("<details><summary>diagram and transcript (0.3 s)</summary>\n<div class=\"diagram\"><svg "),
        "{pass}"
    );
    let fail = &page[page
        .find("<article id=\"script-bob-script-co/server/udp/server.a\"")
        .unwrap()..];
    let fail = &fail[..fail.find("</article>").unwrap()];
    assert!(
        fail.contains("</ul>\n<div class=\"diagram\"><svg "),
        "{fail}"
    );
    assert!(
        fail.contains("<details open=\"open\"><summary>transcript (0.3 s)</summary><pre>"),
        "{fail}"
    );
}

#[test]
fn the_legend_names_each_colour_and_a_case_shows_only_what_it_recorded() {
    let mut g = graded();
    // Unsupported for want of a command: nothing ran, so nothing recorded.
    let r = &mut g[1].runs[0].results[2];
    r.transcript.clear();
    r.diagram = Diagram::default();
    // A pass with a transcript and no diagram.
    g[0].runs[0].results[1].diagram = Diagram::default();
    g[0].runs[0].results[0].stderr = "Traceback <1>\n".into();
    let page = html("m", &g);
    let legend = &page[page.find("<p class=\"legend\">").unwrap()..];
    let legend = &legend[..legend.find("</p>").unwrap()];
    for level in ["required", "robustness", "convention"] {
        assert!(
            legend.contains(&format!(
                "<span class=\"{level} pass\">\u{2714} {level} passed</span>"
            )),
            "{legend}"
        );
        assert!(
            legend.contains(&format!(
                "<span class=\"{level} fail\">\u{2718} {level} failed</span>"
            )),
            "{legend}"
        );
    }
    assert!(legend.contains("<span class=\"unsupported\">\u{2013} unsupported</span>"));
    let article = |id: &str| {
        let a = &page[page.find(&format!("<article id=\"{id}\"")).unwrap()..];
        a[..a.find("</article>").unwrap()].to_string()
    };
    let unsupported = article("script-bob-script-co/server/tcp/server.a");
    assert!(
        unsupported.contains("<p><b>Unsupported:</b> no tcp</p>"),
        "{unsupported}"
    );
    assert!(!unsupported.contains("<details"), "{unsupported}");
    let no_diagram = article("alice/server/udp/server.b");
    assert!(
        no_diagram.contains("<details><summary>diagram and transcript (0.3 s)</summary>\n<pre>"),
        "{no_diagram}"
    );
    assert!(!no_diagram.contains("<svg"), "{no_diagram}");
    assert!(!no_diagram.contains("standard error"), "{no_diagram}");
    // Our reading and the expectation show when the case has them, and only then.
    assert!(!no_diagram.contains("Our reading"), "{no_diagram}");
    assert!(no_diagram.contains("<p><b>Expected:</b> an OK &amp; a RESET</p>"));
    let mut read = graded();
    read[0].runs[0].results[0] = read[0].runs[0].results[0]
        .clone()
        .described("a reading", "")
        .sending("HELLO <7>".into());
    let read_page = html("m", &read);
    let first = &read_page[read_page
        .find("<article id=\"alice/server/udp/server.a\"")
        .unwrap()..];
    let first = &first[..first.find("</article>").unwrap()];
    assert!(first.contains("<p>Our reading: a reading</p>"), "{first}");
    assert!(!first.contains("Expected"), "{first}");
    assert!(
        first.contains("<p><b>The checker sends:</b> HELLO &lt;7&gt;</p>"),
        "{first}"
    );
    assert!(!no_diagram.contains("The checker sends"), "{no_diagram}");
    assert!(article("alice/server/udp/server.a").contains(
        "<details><summary>standard error</summary><pre>Traceback &lt;1&gt;\n</pre></details>"
    ));
    assert_eq!(support::html_check::check(&page).diagrams, 6);
}

#[test]
fn a_single_run_is_a_list_of_its_cases_not_one_wide_row() {
    let one = &graded()[1..];
    let page = html("conform server", one);
    let checked = support::html_check::check(&page);
    assert_eq!((checked.cells, checked.failures), (4, 2));
    assert!(page.contains("<p>1 implementation, 4 cases each way they ran, 4 results.</p>"));
    assert!(!page.contains("class=\"matrix\""), "{page}");
    // A row per case: its verdict, ID, transport, level and reason, linked to its details.
    assert!(page.contains(
        "<tr><td class=\"cell required fail\"><a href=\"#script-bob-script-co/server/udp/server.a\">\u{2718}</a></td><td><a href=\"#script-bob-script-co/server/udp/server.a\"><code>server.a</code></a></td><td>udp</td><td>required</td><td>fail: no &quot;OK&quot; &lt;here&gt;</td></tr>"
    ), "{page}");
}

#[test]
fn each_row_scores_its_suites_in_numbers_and_names_its_first_cause() {
    let page = html("m", &graded());
    // Passed of each level's cases (required, robustness, convention), then not judged and
    // unsupported if any.
    assert!(page.contains("server <span class=\"lv required\">0/1</span> <span class=\"lv robustness\">1/1</span> <span class=\"lv convention\">\u{2013}</span> \u{2013}1<br/>client <span class=\"lv required\">\u{2013}</span> <span class=\"lv robustness\">\u{2013}</span> <span class=\"lv convention\">0/1</span>"), "{page}");
    // The earliest failure of each suite, in the tooltip and in the implementation's section.
    assert!(page.contains("first cause: server.a [udp]: no &quot;OK&quot; &lt;here&gt;"));
    assert!(page.contains("<p class=\"cause\">first cause: client.x [udp]: late</p>"));
    // The names stay in view as the columns scroll sideways.
    assert!(page.contains("<div class=\"scroll\">\n<table class=\"matrix\">"));
    assert!(page.contains(".matrix th.name { position: sticky; left: 0;"));
    assert!(page.contains(" id=\"matrix-end\""));
}

#[test]
fn two_implementations_with_the_same_name_keep_anchors_of_their_own() {
    let mut twins = graded();
    twins[0].name = "pat o'brien".into();
    twins[1].name = "pat o brien".into();
    let page = html("m", &twins);
    assert!(page.contains("<section id=\"pat-o-brien\">"));
    assert!(page.contains("<section id=\"pat-o-brien-2\">"));
    assert!(page.contains("<article id=\"pat-o-brien-2/client/udp/client.x\""));
    assert!(support::html_check::check(&page).cells > 0);
}
