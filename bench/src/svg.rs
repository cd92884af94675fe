//! A minimal hand-written SVG plot writer: axes with ticks, polylines with markers, bars, and
//! a legend. Enough for the three plots in docs/bench/, without a plotting dependency.

use std::fmt::Write as _;

const WIDTH: f64 = 780.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 230.0;
const TOP: f64 = 40.0;
const BOTTOM: f64 = 60.0;
const COLOURS: [&str; 8] = [
    "#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
];

/// An axis: linear or base-10 logarithmic, with a label.
#[derive(Clone, Debug)]
pub struct Axis {
    /// Label drawn beside the axis.
    pub label: String,
    /// Smallest value shown.
    pub min: f64,
    /// Largest value shown.
    pub max: f64,
    /// Logarithmic scale.
    pub log: bool,
    /// Tick positions; empty for automatic ones.
    pub ticks: Vec<f64>,
}

impl Axis {
    fn fraction(&self, v: f64) -> f64 {
        if self.log {
            let (lo, hi) = (self.min.max(1e-12).log10(), self.max.max(1e-12).log10());
            (v.max(1e-12).log10() - lo) / (hi - lo).max(1e-12)
        } else {
            (v - self.min) / (self.max - self.min).max(1e-12)
        }
    }

    fn ticks(&self) -> Vec<f64> {
        if !self.ticks.is_empty() {
            return self.ticks.clone();
        }
        let in_range = |t: &f64| *t >= self.min * 0.999 - 1e-12 && *t <= self.max * 1.001 + 1e-12;
        if self.log {
            let lo = self.min.max(1e-12).log10().floor() as i32;
            let hi = self.max.max(1e-12).log10().ceil() as i32;
            // 1-2-5 steps over narrow ranges, decades over wide ones.
            let mantissas: &[f64] = if hi - lo <= 2 {
                &[1.0, 2.0, 5.0]
            } else {
                &[1.0]
            };
            (lo..=hi)
                .flat_map(|e| mantissas.iter().map(move |m| m * 10f64.powi(e)))
                .filter(in_range)
                .collect()
        } else {
            let rough = (self.max - self.min) / 5.0;
            let magnitude = 10f64.powf(rough.max(1e-12).log10().floor());
            let step = [1.0, 2.0, 5.0, 10.0]
                .iter()
                .map(|m| m * magnitude)
                .find(|s| *s >= rough)
                .unwrap_or(magnitude * 10.0);
            let first = (self.min / step).ceil() as i64;
            let last = (self.max / step).floor() as i64;
            (first..=last).map(|i| i as f64 * step).collect()
        }
    }
}

/// One named series of (x, y) points.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend entry.
    pub name: String,
    /// Points in data coordinates.
    pub points: Vec<(f64, f64)>,
}

fn tick_label(v: f64) -> String {
    crate::stats::human(v)
}

fn frame(title: &str, x: Option<&Axis>, y: &Axis) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    let (x0, y0, x1, y1) = (LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT, TOP);
    let _ = writeln!(
        svg,
        r#"<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y0}" stroke="black"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y1}" stroke="black"/>"#
    );
    for t in x.map(Axis::ticks).unwrap_or_default() {
        let Some(x) = x else { break };
        let px = x0 + x.fraction(t) * (x1 - x0);
        let _ = writeln!(
            svg,
            r##"<line x1="{px:.1}" y1="{y0}" x2="{px:.1}" y2="{y1}" stroke="#ddd"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{px:.1}" y="{}" text-anchor="middle">{}</text>"#,
            y0 + 16.0,
            tick_label(t)
        );
    }
    for t in y.ticks() {
        let py = y0 - y.fraction(t) * (y0 - y1);
        let _ = writeln!(
            svg,
            r##"<line x1="{x0}" y1="{py:.1}" x2="{x1}" y2="{py:.1}" stroke="#ddd"/>"##
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
            x0 - 6.0,
            py + 4.0,
            tick_label(t)
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (x0 + x1) / 2.0,
        HEIGHT - 18.0,
        escape(x.map_or("", |x| x.label.as_str()))
    );
    let _ = writeln!(
        svg,
        r#"<text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})">{}</text>"#,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0,
        escape(&y.label)
    );
    svg
}

fn legend(svg: &mut String, names: &[String]) {
    for (i, name) in names.iter().enumerate() {
        let y = TOP + 10.0 + 18.0 * i as f64;
        let x = WIDTH - RIGHT + 14.0;
        let colour = COLOURS[i % COLOURS.len()];
        let _ = writeln!(
            svg,
            r#"<rect x="{x}" y="{}" width="12" height="12" fill="{colour}"/>"#,
            y - 10.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{y}">{}</text>"#,
            x + 18.0,
            escape(name)
        );
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A line plot of every series.
pub fn lines(title: &str, x: &Axis, y: &Axis, series: &[Series], markers: bool) -> String {
    let mut svg = frame(title, Some(x), y);
    let (x0, y0, x1, y1) = (LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT, TOP);
    for (i, s) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<(f64, f64)> = s
            .points
            .iter()
            .map(|&(a, b)| {
                (
                    x0 + x.fraction(a).clamp(0.0, 1.0) * (x1 - x0),
                    y0 - y.fraction(b).clamp(0.0, 1.0) * (y0 - y1),
                )
            })
            .collect();
        let path: Vec<String> = points
            .iter()
            .map(|(a, b)| format!("{a:.1},{b:.1}"))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        if markers {
            for (a, b) in points {
                let _ = writeln!(
                    svg,
                    r#"<circle cx="{a:.1}" cy="{b:.1}" r="3.5" fill="{colour}"/>"#
                );
            }
        }
    }
    let names: Vec<String> = series.iter().map(|s| s.name.clone()).collect();
    legend(&mut svg, &names);
    svg.push_str("</svg>\n");
    svg
}

/// Grouped bars: one group per category, one bar per series (values in `series[i].points[j].1`
/// for category j).
pub fn bars(title: &str, categories: &[String], y: &Axis, series: &[Series]) -> String {
    let mut svg = frame(title, None, y);
    let (x0, y0, x1, y1) = (LEFT, HEIGHT - BOTTOM, WIDTH - RIGHT, TOP);
    let group = (x1 - x0) / categories.len().max(1) as f64;
    let bar = group * 0.8 / series.len().max(1) as f64;
    for (j, category) in categories.iter().enumerate() {
        let gx = x0 + group * j as f64 + group * 0.1;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{}" text-anchor="middle">{}</text>"#,
            gx + group * 0.4,
            y0 + 16.0,
            escape(category)
        );
        for (i, s) in series.iter().enumerate() {
            let Some(&(_, v)) = s.points.get(j) else {
                continue;
            };
            if !v.is_finite() || v <= 0.0 {
                continue;
            }
            let h = y.fraction(v).clamp(0.0, 1.0) * (y0 - y1);
            let colour = COLOURS[i % COLOURS.len()];
            let _ = writeln!(
                svg,
                r#"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{colour}"/>"#,
                gx + bar * i as f64,
                y0 - h,
                bar * 0.9
            );
        }
    }
    let names: Vec<String> = series.iter().map(|s| s.name.clone()).collect();
    legend(&mut svg, &names);
    svg.push_str("</svg>\n");
    svg
}
