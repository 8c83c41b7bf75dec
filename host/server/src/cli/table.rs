//! How the client verbs print lists: borderless, column-aligned tables in the style of `kubectl get`, which
//! read well in a terminal and split cleanly with `awk`. No colours and no terminal-width wrapping, so what a
//! script sees is what a person sees.

use comfy_table::{Table, presets};

/// Columns are separated by this many spaces.
const GAP: u16 = 3;

/// Renders `rows` under `header`; with no rows it says `no <what>` instead of printing a bare header.
pub fn render(what: &str, header: &[&str], rows: Vec<Vec<String>>) -> String {
    if rows.is_empty() {
        return format!("no {what}\n");
    }
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    table.set_header(header.iter().map(|h| h.to_uppercase()));
    for row in rows {
        table.add_row(row);
    }
    for column in table.column_iter_mut() {
        column.set_padding((0, GAP));
    }
    let mut out = String::new();
    for line in table.lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The first 12 hex digits of a digest: enough to tell versions apart at a glance.
pub fn short_digest(digest: &str) -> &str {
    digest.get(..12).unwrap_or(digest)
}

/// A tensor shape as `1x3x224x224`, with `?` for a dimension the model leaves open (`null`, or negative).
pub fn dims(dims: &[Option<i64>]) -> String {
    if dims.is_empty() {
        return "scalar".to_owned();
    }
    let dim = |d: &Option<i64>| d.filter(|d| *d >= 0).map_or_else(|| "?".to_owned(), |d| d.to_string());
    dims.iter().map(dim).collect::<Vec<_>>().join("x")
}

/// A byte count for a person: `812 B`, `4.2 KiB`, `98.1 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// A list of names, comma-separated, or `-` when empty.
pub fn list(items: impl IntoIterator<Item = String>) -> String {
    let joined = items.into_iter().collect::<Vec<_>>().join(",");
    if joined.is_empty() { "-".to_owned() } else { joined }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_aligned_without_borders() {
        let rows = vec![
            vec!["resnet".to_owned(), "2".to_owned(), "0123456789ab".to_owned()],
            vec!["m".to_owned(), "10".to_owned(), "-".to_owned()],
        ];
        let out = render("models", &["name", "current", "digest"], rows);
        let expected = "\
NAME     CURRENT   DIGEST
resnet   2         0123456789ab
m        10        -
";
        assert_eq!(out, expected);
    }

    #[test]
    fn empty_lists_say_so() {
        assert_eq!(render("models", &["name"], vec![]), "no models\n");
    }

    #[test]
    fn shapes_and_digests_are_short() {
        assert_eq!(dims(&[None, Some(3), Some(224), Some(224)]), "?x3x224x224");
        assert_eq!(dims(&[Some(-1), Some(10)]), "?x10");
        assert_eq!(dims(&[]), "scalar");
        assert_eq!(bytes(812), "812 B");
        assert_eq!(bytes(4300), "4.2 KiB");
        assert_eq!(bytes(98 << 20), "98.0 MiB");
        assert_eq!(short_digest(&"ab".repeat(32)), "abababababab");
        assert_eq!(short_digest("abc"), "abc");
        assert_eq!(list(Vec::new()), "-");
        assert_eq!(list(["a=m".to_owned(), "b=n@2".to_owned()]), "a=m,b=n@2");
    }
}
