//! A run's live log: a window of a few thousand lines paged from SQLite around what is on
//! screen, following the tail while the person does not scroll. A run of millions of lines
//! costs the same as a short one.

use std::cell::Cell;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Widget};

use super::sanitize;
use crate::store::{LogAnchor, LogFilter, LogLine};
use crate::tui::action::{Effect, LogPart};
use crate::tui::theme::Theme;

/// Lines per page read from the store.
pub const WINDOW: i64 = 1000;
/// Lines kept in memory at most: three pages.
const KEEP: usize = 3 * WINDOW as usize;
/// Read the next page when the screen comes this close to the window's edge.
const MARGIN: usize = WINDOW as usize / 4;

#[derive(Debug, Default)]
pub struct LogView {
    pub run: Option<i64>,
    pub filter: LogFilter,
    pub lines: Vec<LogLine>,
    /// Index in `lines` of the first line on screen.
    pub top: usize,
    /// Showing the tail as it grows.
    pub follow: bool,
    /// The window holds the first (last) line the filter shows.
    pub at_start: bool,
    pub at_end: bool,
    /// A page is on its way: ask for no other.
    pub pending: bool,
    pub search: Option<String>,
    /// The line of the last search hit.
    pub hit: Option<i64>,
    /// Lines on screen, as last drawn (viewport feedback from render).
    pub height: Cell<usize>,
    /// Numbers each page asked for: an answer to an older question is dropped (the person
    /// jumped, scrolled or refiltered meanwhile).
    generation: u64,
    /// The run's last line when the newest page was read: following reads from there on,
    /// so a filter that matches little does not make every poll scan the whole run.
    upto: i64,
    /// The last follow read came back full: the tail is further on, read it next.
    behind: bool,
}

impl LogView {
    /// Shows run `run` from its tail.
    pub fn open(&mut self, run: i64) -> Vec<Effect> {
        let filter = if self.run == Some(run) {
            self.filter.clone()
        } else {
            LogFilter::default()
        };
        *self = Self {
            run: Some(run),
            filter,
            follow: true,
            height: Cell::new(self.height.get()),
            search: self.search.take(),
            // Answers to questions about what was shown before are dropped.
            generation: self.generation,
            ..Self::default()
        };
        self.fetch_now(LogAnchor::Tail, LogPart::Tail)
            .into_iter()
            .collect()
    }

    /// Asks for a page unless one is on its way (scrolling asks often).
    fn fetch(&mut self, anchor: LogAnchor, part: LogPart) -> Option<Effect> {
        if self.pending {
            return None;
        }
        self.fetch_now(anchor, part)
    }

    /// Asks for a page, superseding any on its way (a jump, a new filter).
    fn fetch_now(&mut self, anchor: LogAnchor, part: LogPart) -> Option<Effect> {
        let run = self.run?;
        self.pending = true;
        self.generation += 1;
        Some(Effect::Log {
            run,
            filter: self.filter.clone(),
            anchor,
            part,
            generation: self.generation,
        })
    }

    /// While following: what came since the last read, or the tail when far behind.
    pub fn poll(&mut self) -> Option<Effect> {
        if !self.follow {
            return None;
        }
        if self.upto == 0 || self.behind {
            self.fetch(LogAnchor::Tail, LogPart::Tail)
        } else {
            self.fetch(LogAnchor::From(self.upto + 1), LogPart::Newer)
        }
    }

    /// The run's last line known to this view.
    pub fn upto(&self) -> i64 {
        self.upto.max(self.lines.last().map_or(0, |l| l.seq))
    }

    /// A page could not be read: the next poll or key asks again.
    pub fn failed(&mut self, generation: u64) {
        if generation == self.generation {
            self.pending = false;
        }
    }

    fn max_top(&self) -> usize {
        self.lines.len().saturating_sub(self.height.get().max(1))
    }

    /// A page arrived; `upto` is the run's last line when it was read. Only the answer to
    /// the latest question is used.
    pub fn arrived(
        &mut self,
        run: i64,
        part: LogPart,
        generation: u64,
        upto: i64,
        mut lines: Vec<LogLine>,
    ) {
        if Some(run) != self.run || generation != self.generation {
            return;
        }
        self.pending = false;
        let full = lines.len() as i64 >= WINDOW;
        if matches!(part, LogPart::Tail | LogPart::Newer) {
            self.upto = self.upto.max(upto);
            self.behind = part == LogPart::Newer && full && self.follow;
        }
        match part {
            LogPart::Tail => {
                if !self.follow {
                    return;
                }
                self.at_start = !full;
                self.at_end = true;
                self.lines = lines;
                self.top = self.max_top();
            }
            LogPart::Older => {
                self.at_start = !full;
                self.top += lines.len();
                let mut all = lines;
                all.append(&mut self.lines);
                self.lines = all;
                if self.lines.len() > KEEP {
                    self.lines.truncate(KEEP);
                    self.at_end = false;
                }
            }
            LogPart::Newer => {
                self.at_end = !full;
                // `upto` was read before the page: a line may come twice; keep it once.
                let last = self.lines.last().map_or(0, |l| l.seq);
                lines.retain(|l| l.seq > last);
                self.lines.extend(lines);
                if self.lines.len() > KEEP {
                    let cut = self.lines.len() - KEEP;
                    self.lines.drain(..cut);
                    self.top = self.top.saturating_sub(cut);
                    self.at_start = false;
                }
            }
            LogPart::Jump => {
                self.at_start = lines.first().is_none_or(|l| l.seq <= 1);
                self.at_end = !full;
                self.lines = lines;
                self.top = 0;
            }
        }
        self.top = self.top.min(self.max_top());
    }

    /// Scrolls by `delta` lines; reads the next page before the window's edge is reached.
    pub fn scroll(&mut self, delta: isize) -> Option<Effect> {
        if delta < 0 {
            self.follow = false;
        }
        self.top = self.top.saturating_add_signed(delta).min(self.max_top());
        let height = self.height.get().max(1);
        if delta > 0 && self.at_end && self.top == self.max_top() {
            self.follow = true;
            return None;
        }
        if self.top < MARGIN && !self.at_start {
            let first = self.lines.first().map_or(i64::MAX, |l| l.seq);
            return self.fetch(LogAnchor::Before(first), LogPart::Older);
        }
        if self.top + height + MARGIN > self.lines.len() && !self.at_end {
            let last = self.lines.last().map_or(0, |l| l.seq);
            return self.fetch(LogAnchor::From(last + 1), LogPart::Newer);
        }
        None
    }

    pub fn page(&self) -> isize {
        isize::try_from(self.height.get().saturating_sub(1).max(1)).unwrap_or(1)
    }

    pub fn go_top(&mut self) -> Option<Effect> {
        self.follow = false;
        self.fetch_now(LogAnchor::From(0), LogPart::Jump)
    }

    pub fn go_bottom(&mut self) -> Option<Effect> {
        self.follow = true;
        self.fetch_now(LogAnchor::Tail, LogPart::Tail)
    }

    /// Shows the log through `filter` from its tail.
    pub fn refilter(&mut self, filter: LogFilter) -> Vec<Effect> {
        let Some(run) = self.run else {
            return Vec::new();
        };
        // `open` keeps the filter of the run already shown.
        self.filter = filter;
        self.open(run)
    }

    /// Looks for `needle` after (or before) the last hit, else from the top line on screen.
    pub fn find(&mut self, needle: Option<String>, backward: bool) -> Option<Effect> {
        if let Some(n) = needle {
            self.search = Some(n).filter(|n| !n.is_empty());
            self.hit = None;
        }
        let needle = self.search.clone()?;
        let from = self
            .hit
            .or_else(|| self.lines.get(self.top).map(|l| l.seq - 1))
            .unwrap_or(0);
        Some(Effect::Find {
            run: self.run?,
            filter: self.filter.clone(),
            needle,
            from,
            backward,
        })
    }

    /// A search answered: jump to the hit.
    pub fn found(&mut self, run: i64, seq: i64) -> Option<Effect> {
        if Some(run) != self.run {
            return None;
        }
        self.hit = Some(seq);
        self.follow = false;
        // Already on screen: no read needed.
        if let Some(i) = self.lines.iter().position(|l| l.seq == seq) {
            let height = self.height.get().max(1);
            if i < self.top || i >= self.top + height {
                self.top = i.saturating_sub(height / 3).min(self.max_top());
            }
            return None;
        }
        self.fetch_now(LogAnchor::From(seq), LogPart::Jump)
    }

    pub fn render(&self, area: Rect, buf: &mut Buffer, theme: &Theme, title: Line<'_>) {
        let block = Block::new()
            .borders(Borders::ALL)
            .border_style(theme.dim)
            .title(title);
        let inner = block.inner(area);
        block.render(area, buf);
        let height = usize::from(inner.height);
        self.height.set(height);
        if self.run.is_none() {
            Paragraph::new("Pick a run to see its log.")
                .style(theme.dim)
                .render(inner, buf);
            return;
        }
        // While following, the last lines fill the screen whatever `top` says.
        let top = if self.follow {
            self.lines.len().saturating_sub(height)
        } else {
            self.top
        };
        // The hosts of the whole window, not only of the screen: a name keeps its shape
        // while the person scrolls.
        let mut hosts: Vec<&str> = self.lines.iter().map(|l| l.host.as_str()).collect();
        hosts.sort_unstable();
        hosts.dedup();
        hosts.retain(|h| !h.is_empty());
        let lines: Vec<Line> = self
            .lines
            .iter()
            .skip(top)
            .take(height)
            .map(|l| self.line(l, &hosts, theme))
            .collect();
        if lines.is_empty() {
            let text = if self.pending {
                "reading…"
            } else if self.filter != LogFilter::default() {
                "no line matches the filter (h, s, f change it)"
            } else {
                "no output yet"
            };
            Paragraph::new(text).style(theme.dim).render(inner, buf);
            return;
        }
        Paragraph::new(lines).render(inner, buf);
    }

    fn line(&self, l: &LogLine, hosts: &[&str], theme: &Theme) -> Line<'static> {
        let time = crate::clock::format_ms(l.at);
        let time = time.get(11..19).unwrap_or(&time).to_string();
        // Host-less lines are pilote's own, or the output of a step on the jump host.
        let who = match (l.host.as_str(), l.stream.as_str()) {
            ("", "system") => "pilote",
            ("", _) => "(jump host)",
            (h, _) => &host_label(h, hosts, HOST_WIDTH),
        };
        let (marker, style) = match l.stream.as_str() {
            "stderr" => ("!", theme.bad),
            // pilote's own warnings (Alertmanager down, a silence left open) must stand out.
            "system" if l.line.starts_with("warning:") => ("!", theme.warn),
            "system" => ("-", theme.accent),
            _ => ("│", Style::new()),
        };
        let text = sanitize(&l.line);
        let hit = self.hit == Some(l.seq);
        let mut spans = vec![
            Span::styled(format!("{time} "), theme.dim),
            Span::styled(format!("{who:<HOST_WIDTH$.HOST_WIDTH$} "), theme.accent),
            Span::styled(format!("{marker} "), style),
        ];
        match self.search.as_deref().and_then(|n| matches(&text, n)) {
            Some(ranges) => {
                let mut at = 0;
                for (start, end) in ranges {
                    spans.push(Span::styled(text[at..start].to_string(), style));
                    spans.push(Span::styled(text[start..end].to_string(), theme.selected));
                    at = end;
                }
                spans.push(Span::styled(text[at..].to_string(), style));
            }
            None => spans.push(Span::styled(text, style)),
        }
        let line = Line::from(spans);
        if hit {
            line.style(theme.selected)
        } else {
            line
        }
    }
}

/// The host column's width: 12 leaves the line most of an 80-column screen.
const HOST_WIDTH: usize = 12;

/// `host` in `width` columns at most. A longer name loses what it shares with the other
/// `hosts` of the log, never what tells it from them: `preprod-jboss-1` and `-2` are
/// `…jboss-1` and `…jboss-2` (not both `preprod-jbos`); `jboss-1.preprod.example` keeps its
/// head, `jboss-1.prep…`.
fn host_label(host: &str, hosts: &[&str], width: usize) -> String {
    let chars: Vec<char> = host.chars().collect();
    let n = chars.len();
    if n <= width || width < 3 {
        return chars.iter().take(width).collect();
    }
    let keep = width - 1;
    let same = |a: &mut dyn Iterator<Item = char>, b: &mut dyn Iterator<Item = char>| {
        a.zip(b).take_while(|(x, y)| x == y).count()
    };
    let others = || hosts.iter().filter(|h| **h != host);
    // Where it parts from the name most like it, from the front, and how much of its end
    // it shares with another.
    let parts_at = others()
        .map(|o| same(&mut chars.iter().copied(), &mut o.chars()))
        .max();
    let same_end = others()
        .map(|o| same(&mut chars.iter().rev().copied(), &mut o.chars().rev()))
        .max()
        .unwrap_or(0);
    let text = |range: std::ops::Range<usize>| chars[range].iter().collect::<String>();
    match parts_at {
        // Alone, or parting early: the head tells it.
        None => format!("{}…", text(0..keep)),
        Some(p) if p < keep => format!("{}…", text(0..keep)),
        Some(_) if same_end < keep => {
            // The tail tells it; start after a separator where one falls in it, so the
            // label is a word (`jboss-1`), not a word's end (`rod-jboss-1`).
            let from = n - keep;
            let last_needed = n - 1 - same_end;
            let start = chars[from..last_needed]
                .iter()
                .position(|c| matches!(c, '-' | '.' | '_'))
                .map_or(from, |i| from + i + 1);
            format!("…{}", text(start..n))
        }
        // Same head, same tail: the middle, where it parts.
        Some(p) => {
            let start = p.saturating_sub((width - 2) / 2).min(n - (width - 2));
            format!("…{}…", text(start..start + width - 2))
        }
    }
}

/// The byte ranges of `needle` in `text`, ignoring ASCII case (as the store's search does);
/// `None` when there is none.
fn matches(text: &str, needle: &str) -> Option<Vec<(usize, usize)>> {
    if needle.is_empty() {
        return None;
    }
    let (hay, pin) = (text.to_ascii_lowercase(), needle.to_ascii_lowercase());
    // ASCII lowering keeps every byte where it was: the ranges hold in `text` too.
    let ranges: Vec<(usize, usize)> = hay
        .match_indices(&pin)
        .map(|(i, m)| (i, i + m.len()))
        .collect();
    (!ranges.is_empty()).then_some(ranges)
}

#[cfg(test)]
mod tests {
    use super::host_label;

    #[test]
    fn a_long_host_keeps_what_tells_it_from_the_others() {
        let fleet = ["preprod-jboss-1", "preprod-jboss-2", "preprod-db"];
        assert_eq!(host_label("preprod-jboss-1", &fleet, 12), "…jboss-1");
        assert_eq!(host_label("preprod-jboss-2", &fleet, 12), "…jboss-2");
        assert_eq!(host_label("preprod-db", &fleet, 12), "preprod-db");
        // Parting at the front: the head.
        let fqdn = ["jboss-1.preprod.example", "jboss-2.preprod.example"];
        assert_eq!(host_label(fqdn[1], &fqdn, 12), "jboss-2.pre…");
        // Parting near the end: the tail holds it.
        let near = ["app-preprod-node1-eu-west", "app-preprod-node2-eu-west"];
        assert_eq!(host_label(near[0], &near, 12), "…de1-eu-west");
        // Parting in the middle only.
        let mid = [
            "app-preprod-node1-eu-west-2a",
            "app-preprod-node2-eu-west-2a",
        ];
        assert_eq!(host_label(mid[0], &mid, 12), "…-node1-eu-…");
        // Alone: the head, marked as cut.
        assert_eq!(host_label("preprod-jboss-1", &[], 12), "preprod-jbo…");
        // One a prefix of the other.
        let ten = ["preprod-jboss-1", "preprod-jboss-10"];
        assert_eq!(host_label(ten[1], &ten, 12), "…jboss-10");
        for w in [1, 2, 3, 12] {
            for h in fleet.iter().chain(&fqdn).chain(&mid) {
                let label = host_label(h, &fleet, w);
                assert!(label.chars().count() <= w, "{label:?} in {w}");
            }
        }
    }
}
