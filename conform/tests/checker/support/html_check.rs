//! Reads an HTML report as a tree (it is written as well-formed XML) and checks what a reader relies
//! on: every link inside the page lands on something, every matrix cell links to a case's details,
//! every failure has its diagram, and nothing needs a script or the network.

use std::collections::HashSet;

/// What a report holds.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Checked {
    /// Matrix cells, each linked to a detail.
    pub cells: usize,
    /// Case details, and those of failures (each with an SVG diagram).
    pub details: usize,
    pub failures: usize,
    /// Details with a diagram (every case that ran has one).
    pub diagrams: usize,
}

fn classes<'a>(node: &roxmltree::Node<'a, '_>) -> Vec<&'a str> {
    node.attribute("class")
        .map_or_else(Vec::new, |c| c.split_whitespace().collect())
}

/// Checks `html` and counts what it holds; panics saying what is wrong.
pub fn check(html: &str) -> Checked {
    let options = roxmltree::ParsingOptions {
        allow_dtd: true,
        ..Default::default()
    };
    let doc = roxmltree::Document::parse_with_options(html, options)
        .unwrap_or_else(|e| panic!("the report is not well-formed: {e}"));
    let mut ids: HashSet<&str> = HashSet::new();
    for id in doc.descendants().filter_map(|n| n.attribute("id")) {
        assert!(!id.is_empty(), "an empty id");
        assert!(ids.insert(id), "the id {id:?} is used twice");
    }
    let mut checked = Checked::default();
    for node in doc.descendants().filter(|n| n.is_element()) {
        let name = node.tag_name().name();
        assert!(
            !matches!(name, "script" | "link" | "iframe" | "img" | "object"),
            "the report has a <{name}>"
        );
        for attr in node.attributes() {
            let value = attr.value();
            if matches!(attr.name(), "href" | "src") {
                assert!(
                    value.starts_with('#'),
                    "the report links outside itself: {}={value:?}",
                    attr.name()
                );
                let target = &value[1..];
                assert!(ids.contains(target), "a link to #{target} lands nowhere");
            }
            assert!(
                !attr.name().starts_with("on"),
                "the report has an event handler: {}",
                attr.name()
            );
        }
        let class = classes(&node);
        if name == "td" && class.contains(&"cell") {
            let link = node
                .children()
                .find(|c| c.has_tag_name("a"))
                .unwrap_or_else(|| panic!("a cell without a link: {:?}", node.attribute("class")));
            let target = link.attribute("href").unwrap_or_default();
            let detail = doc
                .descendants()
                .find(|n| n.attribute("id") == Some(&target[1..]))
                .expect("checked above");
            assert!(
                detail.has_tag_name("article"),
                "{target} is not a case's details"
            );
            let verdict = ["pass", "fail", "unsupported"]
                .into_iter()
                .find(|v| class.contains(v))
                .unwrap_or_else(|| panic!("a cell with no verdict: {class:?}"));
            assert!(
                classes(&detail).contains(&verdict),
                "{target}: the cell says {verdict}, its details do not"
            );
            checked.cells += 1;
        }
        if name == "article" {
            checked.details += 1;
            let svg = node
                .descendants()
                .find(|n| n.has_tag_name(("http://www.w3.org/2000/svg", "svg")));
            checked.diagrams += usize::from(svg.is_some());
            if class.contains(&"fail") {
                assert!(
                    svg.is_some(),
                    "the failure {:?} has no diagram",
                    node.attribute("id")
                );
                checked.failures += 1;
            }
        }
    }
    checked
}
