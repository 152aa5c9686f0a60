//! Plain aligned tables for terminal output (no borders, grep-friendly, like kubectl).

/// Renders `rows` under `header`, each column as wide as its widest cell, two spaces apart.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            let pad = widths[i].saturating_sub(cell.chars().count());
            text.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// `1 action`, `3 actions`: a count and its noun, in the plural unless there is one.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_columns_and_trims_trailing_spaces() {
        let t = super::render(
            &["APP", "ENV"],
            &[
                vec!["pets".into(), "uat".into()],
                vec!["p".into(), "".into()],
            ],
        );
        assert_eq!(t, "APP   ENV\npets  uat\np\n");
    }

    #[test]
    fn counts_take_the_plural_unless_one() {
        assert_eq!(super::count(1, "action"), "1 action");
        assert_eq!(super::count(0, "rollback"), "0 rollbacks");
        assert_eq!(super::count(2, "run"), "2 runs");
    }
}
