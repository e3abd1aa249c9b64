//! The one table component every pane draws its rows with. A [`Column`] keeps a header, a width and
//! the cell builder together; [`Table::draw`] owns the rest, written once: the header row, scrolling
//! so the selection stays visible, building only the rows on screen, and the highlight of the
//! selected row. Filtering happens before (the pane's model keeps its `/` filter and hands over the
//! rows it keeps).

use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::Span;
use ratatui::widgets::Row;

use super::Theme;

/// How a row becomes a cell.
type Cell<'a, R> = Box<dyn Fn(&R) -> Span<'a> + 'a>;

/// How a row gets its style.
type RowStyle<'a, R> = Box<dyn Fn(&R) -> Style + 'a>;

/// One column: its header, its width and how a row becomes its cell.
pub struct Column<'a, R> {
    header: &'a str,
    width: Constraint,
    cell: Cell<'a, R>,
}

impl<'a, R> Column<'a, R> {
    pub fn new(header: &'a str, width: Constraint, cell: impl Fn(&R) -> Span<'a> + 'a) -> Self {
        Column {
            header,
            width,
            cell: Box::new(cell),
        }
    }
}

/// A table over rows of type `R`: its columns, and optionally a style per row (the selected row's
/// highlight goes over it).
pub struct Table<'a, R> {
    columns: Vec<Column<'a, R>>,
    row_style: Option<RowStyle<'a, R>>,
}

impl<'a, R> Table<'a, R> {
    pub fn new(columns: Vec<Column<'a, R>>) -> Self {
        Table {
            columns,
            row_style: None,
        }
    }

    /// Style whole rows (a row's cells keep their own styles on top).
    pub fn row_style(mut self, style: impl Fn(&R) -> Style + 'a) -> Self {
        self.row_style = Some(Box::new(style));
        self
    }

    /// Draw `total` rows into `area` below a header line, scrolled so that `selected` is visible and
    /// highlighted. `window(offset, n)` gives the rows `offset .. offset + n`: only those are built.
    pub fn draw(
        &self,
        frame: &mut Frame,
        area: Rect,
        total: usize,
        window: impl FnOnce(usize, usize) -> Vec<R>,
        selected: Option<usize>,
        theme: &Theme,
    ) {
        let height = usize::from(area.height.saturating_sub(1));
        let offset = scroll_offset(selected.unwrap_or(0), height, total);
        self.draw_at(frame, area, offset, window(offset, height), selected, theme);
    }

    /// Draw `rows`, the rows from index `offset` on, into `area` below a header line, as many as
    /// fit, the one at `selected` highlighted: for a view that keeps its own scroll position (the
    /// help overlay) instead of following a selection.
    pub fn draw_at(
        &self,
        frame: &mut Frame,
        area: Rect,
        offset: usize,
        rows: Vec<R>,
        selected: Option<usize>,
        theme: &Theme,
    ) {
        let height = usize::from(area.height.saturating_sub(1));
        let rows = rows.into_iter().take(height).enumerate().map(|(i, r)| {
            let cells: Vec<Span> = self.columns.iter().map(|c| (c.cell)(&r)).collect();
            let row = Row::new(cells);
            let row = match &self.row_style {
                Some(style) => row.style(style(&r)),
                None => row,
            };
            if selected == Some(offset + i) {
                row.style(theme.selected())
            } else {
                row
            }
        });
        let widths: Vec<Constraint> = self.columns.iter().map(|c| c.width).collect();
        let header: Vec<&str> = self.columns.iter().map(|c| c.header).collect();
        let table = ratatui::widgets::Table::new(rows, widths)
            .header(Row::new(header).style(theme.header()));
        frame.render_widget(table, area);
    }

    /// [`Table::draw`] over rows already in a slice.
    pub fn draw_slice(
        &self,
        frame: &mut Frame,
        area: Rect,
        rows: &[R],
        selected: Option<usize>,
        theme: &Theme,
    ) where
        R: Clone,
    {
        let window = |offset: usize, n: usize| rows.iter().skip(offset).take(n).cloned().collect();
        self.draw(frame, area, rows.len(), window, selected, theme);
    }
}

/// The widths `widths` get in a table `width` columns wide, as [`Table::draw`] lays them out (one
/// column of spacing, from the left): for a cell that fits its text to its column.
pub fn laid_out(widths: &[Constraint], width: u16) -> Vec<u16> {
    Layout::horizontal(widths.iter().copied())
        .flex(Flex::Start)
        .spacing(1)
        .split(Rect::new(0, 0, width, 1))
        .iter()
        .map(|r| r.width)
        .collect()
}

/// The first row index to draw so that `selected` is visible in `height` rows.
pub fn scroll_offset(selected: usize, height: usize, total: usize) -> usize {
    if height == 0 || total <= height {
        return 0;
    }
    selected.saturating_sub(height - 1).min(total - height)
}

#[cfg(test)]
mod tests {
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    use super::*;
    use crate::config::Config;

    fn screen(rows: &[u32], selected: Option<usize>, height: u16) -> (String, Vec<bool>) {
        let theme = Theme::new(Config::defaults().unwrap().theme, true);
        let table = Table::new(vec![
            Column::new("N", Constraint::Length(4), |r: &u32| {
                Span::raw(r.to_string())
            }),
            Column::new("TWICE", Constraint::Length(6), |r: &u32| {
                Span::raw((r * 2).to_string())
            }),
        ]);
        let mut t = Terminal::new(TestBackend::new(12, height)).unwrap();
        t.draw(|f| table.draw_slice(f, f.area(), rows, selected, &theme))
            .unwrap();
        let buf = t.backend().buffer();
        let lines: Vec<String> = (0..height)
            .map(|y| {
                (0..12)
                    .map(|x| buf[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect();
        let highlighted = (0..height)
            .map(|y| buf[(0, y)].bg == theme.selected().bg.unwrap())
            .collect();
        (lines.join("\n"), highlighted)
    }

    #[test]
    fn header_cells_scrolling_and_highlight() {
        let rows: Vec<u32> = (1..=10).collect();
        let (text, hl) = screen(&rows, Some(6), 4);
        // a header and three rows: the selected seventh row is the last one shown
        assert_eq!(
            text,
            "N    TWICE  \n5    10     \n6    12     \n7    14     "
        );
        assert_eq!(hl, [false, false, false, true]);
        let (text, hl) = screen(&rows, None, 3);
        assert_eq!(text, "N    TWICE  \n1    2      \n2    4      ");
        assert_eq!(hl, [false, false, false]);
    }
}
