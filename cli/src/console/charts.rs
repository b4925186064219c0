//! Charts drawn on the server as SVG (no script, no library): horizontal
//! bars, one a row, each with its label and its value written beside it, and
//! the figures also in a table beside the chart for whoever cannot see it.

use maud::{Markup, html};

/// The height of one bar's row, in SVG units.
const ROW: u32 = 28;
/// The room for a row's label on the left.
const LABEL: u32 = 110;
/// The room for the bars.
const BARS: u32 = 200;
/// The room for a row's value on the right.
const VALUE: u32 = 80;

/// A horizontal bar chart of `rows` (label, value; none: no figure),
/// titled `title`, each value written with `shown`.
pub fn bars(title: &str, rows: &[(String, Option<f64>)], shown: impl Fn(f64) -> String) -> Markup {
    let most = rows.iter().filter_map(|(_, v)| *v).fold(0.0_f64, f64::max);
    let height = ROW * rows.len().max(1) as u32 + 8;
    let width = LABEL + BARS + VALUE;
    let described: Vec<String> = rows
        .iter()
        .map(|(label, value)| format!("{label}: {}", value.map_or("no figure".to_string(), &shown)))
        .collect();
    html! {
        figure .chart {
            figcaption { (title) }
            svg xmlns="http://www.w3.org/2000/svg" viewBox={"0 0 " (width) " " (height)}
                role="img" aria-label={(title) ": " (described.join("; "))} {
                @for (row, (label, value)) in rows.iter().enumerate() {
                    @let y = row as u32 * ROW + 4;
                    @let length = match value {
                        Some(v) if most > 0.0 => (v / most * f64::from(BARS - 10)).max(1.0),
                        _ => 0.0,
                    };
                    text x=(LABEL - 8) y=(y + ROW / 2 + 4) text-anchor="end" class="label" { (label) }
                    rect x=(LABEL) y=(y + 4) width=(format!("{length:.1}")) height=(ROW - 10) class="bar" {}
                    text x=(f64::from(LABEL) + length + 6.0) y=(y + ROW / 2 + 4) class="value" {
                        (value.map_or("—".to_string(), &shown))
                    }
                }
            }
        }
    }
}

/// A share (0 to 1) as a percentage.
pub fn percent(share: f64) -> String {
    format!("{:.0} %", share * 100.0)
}

/// Minutes, to one decimal.
pub fn minutes(value: f64) -> String {
    format!("{value:.1} min")
}

/// A count.
pub fn count(value: f64) -> String {
    format!("{value:.0}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_say_every_value() {
        let chart = bars(
            "Sessions",
            &[
                ("ann".to_string(), Some(4.0)),
                ("<tom>".to_string(), Some(2.0)),
                ("bob".to_string(), None),
            ],
            count,
        )
        .into_string();
        assert!(chart.contains("width=\"190.0\""), "{chart}");
        assert!(chart.contains("width=\"95.0\""), "{chart}");
        assert!(
            chart.contains("aria-label=\"Sessions: ann: 4; &lt;tom&gt;: 2; bob: no figure\""),
            "{chart}"
        );
        assert!(!chart.contains("<tom>"), "{chart}");
    }
}
