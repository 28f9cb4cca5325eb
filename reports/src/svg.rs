//! Hand-written SVG charts for the HTML report: one axis and scale helper
//! (linear, log, categorical or custom ticks), one chart frame, and the
//! marks every chart is drawn from: lines, bands, bars, interval whiskers,
//! points and reference lines.
//!
//! The SVG carries no colours of its own. Marks get CSS classes (`line`,
//! `band`, `area`, `bar`, `whisker`, `dot`, `ref`, and a series class `s0`…`s9`
//! or `ok`/`fail`), and text and axes use `currentColor`, so the page's
//! stylesheet sets the palette for light and dark themes alike. Every data
//! mark carries the class `data`. Output depends only on the input: numbers
//! are printed with fixed precision.

use std::fmt::Write as _;

/// Escape text for HTML and XML, in element content and in quoted attributes.
/// Characters XML forbids (most C0 controls) become U+FFFD.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A number for people: four significant digits, integers as integers,
/// "–" for NaN.
pub fn num(x: f64) -> String {
    if x.is_nan() {
        return "–".to_owned();
    }
    if x.is_infinite() {
        return if x > 0.0 { "∞" } else { "−∞" }.to_owned();
    }
    if x == 0.0 {
        return "0".to_owned();
    }
    if x == x.trunc() && x.abs() < 1e15 {
        return format!("{}", x as i64);
    }
    let a = x.abs();
    if !(1e-4..1e15).contains(&a) {
        return format!("{x:.3e}");
    }
    let mag = a.log10().floor() as i32;
    let decimals = (3 - mag).clamp(0, 8) as usize;
    trim_zeros(format!("{x:.decimals$}"))
}

fn trim_zeros(s: String) -> String {
    if s.contains('.') {
        let t = s.trim_end_matches('0').trim_end_matches('.');
        if t == "-0" {
            "0".to_owned()
        } else {
            t.to_owned()
        }
    } else {
        s
    }
}

/// A coordinate, to a tenth of a pixel.
fn c(v: f64) -> String {
    trim_zeros(format!("{v:.1}"))
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum ScaleKind {
    Linear,
    Log,
}

/// One axis: its label, scale, domain and ticks.
#[derive(Clone, Debug)]
pub struct Axis {
    label: String,
    kind: ScaleKind,
    lo: f64,
    hi: f64,
    ticks: Vec<(f64, String)>,
    /// Categorical axes draw no grid lines and may carry a second label line.
    categorical: bool,
}

impl Axis {
    /// A linear axis over at least `[lo, hi]`, widened to round ticks.
    pub fn linear(label: &str, lo: f64, hi: f64) -> Self {
        let (lo, hi) = sane(lo, hi);
        let step = nice_step(hi - lo, 5);
        let lo = (lo / step).floor() * step;
        let hi = (hi / step).ceil() * step;
        let decimals = (0..8)
            .find(|&d| {
                let scaled = step * 10f64.powi(d);
                (scaled - scaled.round()).abs() < 1e-6
            })
            .unwrap_or(8) as usize;
        let n = ((hi - lo) / step).round() as i64;
        let ticks = (0..=n)
            .map(|i| {
                let v = lo + i as f64 * step;
                let v = if v.abs() < step * 1e-9 { 0.0 } else { v };
                (v, format!("{v:.decimals$}"))
            })
            .collect();
        Self {
            label: label.to_owned(),
            kind: ScaleKind::Linear,
            lo,
            hi,
            ticks,
            categorical: false,
        }
    }

    /// A base-10 log axis over at least `[lo, hi]` (both > 0), widened to
    /// whole decades.
    pub fn log(label: &str, lo: f64, hi: f64) -> Self {
        let lo = if lo.is_finite() && lo > 0.0 { lo } else { 1.0 };
        let hi = if hi.is_finite() && hi > lo {
            hi
        } else {
            lo * 10.0
        };
        let d0 = lo.log10().floor() as i32;
        let mut d1 = hi.log10().ceil() as i32;
        if d1 <= d0 {
            d1 = d0 + 1;
        }
        let mut ticks = Vec::new();
        for d in d0..=d1 {
            let p = 10f64.powi(d);
            ticks.push((p, num(p)));
            if d1 - d0 <= 2 && d < d1 {
                ticks.push((2.0 * p, num(2.0 * p)));
                ticks.push((5.0 * p, num(5.0 * p)));
            }
        }
        Self {
            label: label.to_owned(),
            kind: ScaleKind::Log,
            lo: 10f64.powi(d0),
            hi: 10f64.powi(d1),
            ticks,
            categorical: false,
        }
    }

    /// A base-10 log axis over `[lo, hi]` (both > 0) padded by a twentieth
    /// of its span either side instead of widened to whole decades, with
    /// ticks at 1, 2 and 5 × 10^k inside it (1 to 9 × 10^k when those are
    /// too few). For data spanning a decade or two, which whole decades
    /// would squeeze into part of the plot.
    pub fn log_span(label: &str, lo: f64, hi: f64) -> Self {
        let lo = if lo.is_finite() && lo > 0.0 { lo } else { 1.0 };
        let hi = if hi.is_finite() && hi > lo {
            hi
        } else {
            lo * 10.0
        };
        let pad = (hi / lo).powf(0.05);
        let (lo, hi) = (lo / pad, hi * pad);
        let (d0, d1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        let within = |ms: &[f64]| -> Vec<(f64, String)> {
            (d0..=d1)
                .flat_map(|d| ms.iter().map(move |m| m * 10f64.powi(d)))
                .filter(|v| (lo..=hi).contains(v))
                .map(|v| (v, num(v)))
                .collect()
        };
        let mut ticks = within(&[1.0, 2.0, 5.0]);
        if ticks.len() < 2 {
            ticks = within(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
        }
        Self {
            label: label.to_owned(),
            kind: ScaleKind::Log,
            lo,
            hi,
            ticks,
            categorical: false,
        }
    }

    /// Categories 0..n, each one unit wide: category i spans `[i, i + 1]`.
    /// A name may hold a second line after `\n`.
    pub fn categories(label: &str, names: &[String]) -> Self {
        Self {
            label: label.to_owned(),
            kind: ScaleKind::Linear,
            lo: 0.0,
            hi: names.len().max(1) as f64,
            ticks: names
                .iter()
                .enumerate()
                .map(|(i, n)| (i as f64 + 0.5, n.clone()))
                .collect(),
            categorical: true,
        }
    }

    /// A linear axis over exactly `[lo, hi]` with the given ticks.
    pub fn custom(label: &str, lo: f64, hi: f64, ticks: Vec<(f64, String)>) -> Self {
        let (lo, hi) = sane(lo, hi);
        Self {
            label: label.to_owned(),
            kind: ScaleKind::Linear,
            lo,
            hi,
            ticks,
            categorical: false,
        }
    }

    /// Position of `v` along the axis, 0 at `lo` and 1 at `hi` (clamped a
    /// little outside, so marks past the domain stay near the frame).
    fn t(&self, v: f64) -> f64 {
        let t = match self.kind {
            ScaleKind::Linear => (v - self.lo) / (self.hi - self.lo),
            ScaleKind::Log => {
                let v = v.max(self.lo * 1e-3);
                (v.log10() - self.lo.log10()) / (self.hi.log10() - self.lo.log10())
            }
        };
        t.clamp(-0.05, 1.05)
    }
}

fn sane(lo: f64, hi: f64) -> (f64, f64) {
    let lo = if lo.is_finite() { lo } else { 0.0 };
    let hi = if hi.is_finite() { hi } else { lo + 1.0 };
    if hi > lo {
        (lo, hi)
    } else if lo == 0.0 {
        (0.0, 1.0)
    } else {
        (lo - lo.abs() * 0.1, lo + lo.abs() * 0.1)
    }
}

/// A round step (1, 2, 2.5 or 5 × 10^k) giving at most about `n` intervals.
fn nice_step(range: f64, n: usize) -> f64 {
    let raw = range / n as f64;
    let p = 10f64.powf(raw.log10().floor());
    for m in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if m * p >= raw * (1.0 - 1e-9) {
            return m * p;
        }
    }
    10.0 * p
}

/// How a legend entry is drawn.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Key {
    /// A solid line.
    Line,
    /// A dashed line.
    Dashed,
    /// A shaded band.
    Band,
    /// A filled box, as drawn for bars.
    Box,
}

/// A chart: a frame with two axes, marks added in order, and a legend.
pub struct Chart {
    title: String,
    x: Axis,
    y: Axis,
    w: f64,
    h: f64,
    body: String,
    legend: Vec<(String, String, Key)>,
}

const LEFT: f64 = 62.0;
const RIGHT: f64 = 26.0;
const TOP: f64 = 30.0;
const BOTTOM: f64 = 46.0;
const LEGEND_ROW: f64 = 18.0;
/// Approximate advance of an 11px sans-serif character.
const CHAR_W: f64 = 6.2;

impl Chart {
    /// A chart whose frame, axes and labels fill `w` × `h` pixels (the legend
    /// adds rows below).
    pub fn new(title: &str, x: Axis, y: Axis, w: f64, h: f64) -> Self {
        Self {
            title: title.to_owned(),
            x,
            y,
            w,
            h,
            body: String::new(),
            legend: Vec::new(),
        }
    }

    /// Whether no data mark has been drawn.
    pub fn is_empty(&self) -> bool {
        !self.body.contains("class=\"data ")
    }

    fn extra_bottom(&self) -> f64 {
        if self.x.categorical && self.x.ticks.iter().any(|(_, l)| l.contains('\n')) {
            13.0
        } else {
            0.0
        }
    }

    fn px(&self, v: f64) -> f64 {
        LEFT + self.x.t(v) * (self.w - LEFT - RIGHT)
    }

    fn py(&self, v: f64) -> f64 {
        let bottom = self.h - BOTTOM - self.extra_bottom();
        bottom - self.y.t(v) * (bottom - TOP)
    }

    fn path_d(&self, pts: &[(f64, f64)]) -> String {
        // Non-finite points break the path into segments.
        let mut d = String::new();
        let mut pen_down = false;
        for &(x, y) in pts {
            if !(x.is_finite() && y.is_finite()) {
                pen_down = false;
                continue;
            }
            let cmd = if pen_down { 'L' } else { 'M' };
            let _ = write!(d, "{cmd}{},{}", c(self.px(x)), c(self.py(y)));
            pen_down = true;
        }
        d
    }

    /// A polyline through `pts` in data coordinates; `class` names the series
    /// (e.g. `s0`), plus `dash` for a dashed line.
    pub fn line(&mut self, pts: &[(f64, f64)], class: &str) {
        let d = self.path_d(pts);
        if !d.is_empty() {
            let _ = write!(self.body, r#"<path class="data line {class}" d="{d}"/>"#);
        }
    }

    /// A filled band between `lo` and `hi` at the positions `xs`. `kind` is
    /// `band` (translucent, for intervals) or `area` (solid, for stacks).
    pub fn band(&mut self, xs: &[f64], lo: &[f64], hi: &[f64], kind: &str, class: &str) {
        let pts: Vec<(f64, f64, f64)> = xs
            .iter()
            .zip(lo)
            .zip(hi)
            .map(|((&x, &l), &h)| (x, l, h))
            .filter(|(x, l, h)| x.is_finite() && l.is_finite() && h.is_finite())
            .collect();
        if pts.len() < 2 {
            return;
        }
        let mut d = String::new();
        for (i, &(x, _, h)) in pts.iter().enumerate() {
            let cmd = if i == 0 { 'M' } else { 'L' };
            let _ = write!(d, "{cmd}{},{}", c(self.px(x)), c(self.py(h)));
        }
        for &(x, l, _) in pts.iter().rev() {
            let _ = write!(d, "L{},{}", c(self.px(x)), c(self.py(l)));
        }
        d.push('Z');
        let _ = write!(self.body, r#"<path class="data {kind} {class}" d="{d}"/>"#);
    }

    /// A bar from `(x0, y0)` to `(x1, y1)` in data coordinates, with a hover
    /// text.
    pub fn bar(&mut self, x0: f64, x1: f64, y0: f64, y1: f64, class: &str, tip: &str) {
        if ![x0, x1, y0, y1].iter().all(|v| v.is_finite()) {
            return;
        }
        let (a, b) = (self.px(x0), self.px(x1));
        let (top, bottom) = (self.py(y1).min(self.py(y0)), self.py(y1).max(self.py(y0)));
        let _ = write!(
            self.body,
            r#"<rect class="data bar {class}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>"#,
            c(a.min(b)),
            c(top),
            c((b - a).abs().max(0.5)),
            c((bottom - top).max(0.5)),
            esc(tip)
        );
    }

    /// An interval whisker at `x` from `lo` to `hi`, with caps.
    pub fn whisker(&mut self, x: f64, lo: f64, hi: f64, class: &str) {
        if ![x, lo, hi].iter().all(|v| v.is_finite()) {
            return;
        }
        let (x, a, b) = (self.px(x), self.py(lo), self.py(hi));
        let _ = write!(
            self.body,
            r#"<path class="data whisker {class}" d="M{x},{a}L{x},{b}M{l},{a}L{r},{a}M{l},{b}L{r},{b}"/>"#,
            x = c(x),
            a = c(a),
            b = c(b),
            l = c(x - 3.0),
            r = c(x + 3.0),
        );
    }

    /// A short horizontal tick at `y`, `half` pixels either side of `x` (a
    /// closed-form value on a bar, say).
    pub fn tick(&mut self, x: f64, y: f64, half: f64, class: &str) {
        if !(x.is_finite() && y.is_finite()) {
            return;
        }
        let (x, y) = (self.px(x), self.py(y));
        let _ = write!(
            self.body,
            r#"<path class="tick {class}" d="M{},{}L{},{}"/>"#,
            c(x - half),
            c(y),
            c(x + half),
            c(y)
        );
    }

    /// A dot at `(x, y)` with a hover text.
    pub fn dot(&mut self, x: f64, y: f64, class: &str, tip: &str) {
        if !(x.is_finite() && y.is_finite()) {
            return;
        }
        let _ = write!(
            self.body,
            r#"<circle class="data dot {class}" cx="{}" cy="{}" r="3.5"><title>{}</title></circle>"#,
            c(self.px(x)),
            c(self.py(y)),
            esc(tip)
        );
    }

    /// A dashed horizontal reference line across the plot at `y`, labelled
    /// at its right end.
    pub fn hline(&mut self, y: f64, class: &str, label: &str) {
        if !y.is_finite() {
            return;
        }
        let (x0, x1, y) = (LEFT, self.w - RIGHT, self.py(y));
        let _ = write!(
            self.body,
            r#"<path class="ref {class}" d="M{},{}L{},{}"/><text class="reflabel {class}" x="{}" y="{}" text-anchor="end">{}</text>"#,
            c(x0),
            c(y),
            c(x1),
            c(y),
            c(x1 - 3.0),
            c(y - 4.0),
            esc(label)
        );
    }

    /// Add a legend entry.
    pub fn key(&mut self, class: &str, label: &str, key: Key) {
        self.legend.push((class.to_owned(), label.to_owned(), key));
    }

    /// Lay the legend out in rows under the x-axis label.
    fn legend_svg(&self) -> (String, f64) {
        let mut out = String::new();
        let (mut x, mut row) = (LEFT, 0usize);
        let top = self.h - 4.0;
        for (class, label, key) in &self.legend {
            let width = 26.0 + label.chars().count() as f64 * CHAR_W + 14.0;
            if x + width > self.w - RIGHT && x > LEFT {
                x = LEFT;
                row += 1;
            }
            let y = top + row as f64 * LEGEND_ROW + LEGEND_ROW / 2.0;
            let swatch = match key {
                Key::Line | Key::Dashed => format!(
                    r#"<path class="line{} {class}" d="M{},{}L{},{}"/>"#,
                    if *key == Key::Dashed { " dash" } else { "" },
                    c(x),
                    c(y),
                    c(x + 20.0),
                    c(y)
                ),
                Key::Band => format!(
                    r#"<rect class="band {class}" x="{}" y="{}" width="20" height="10"/>"#,
                    c(x),
                    c(y - 5.0)
                ),
                Key::Box => format!(
                    r#"<rect class="bar {class}" x="{}" y="{}" width="12" height="10"/>"#,
                    c(x + 4.0),
                    c(y - 5.0)
                ),
            };
            let _ = write!(
                out,
                r#"{swatch}<text x="{}" y="{}">{}</text>"#,
                c(x + 26.0),
                c(y + 4.0),
                esc(label)
            );
            x += width;
        }
        let rows = if self.legend.is_empty() { 0 } else { row + 1 };
        (out, rows as f64 * LEGEND_ROW)
    }

    /// The finished `<svg>` element.
    pub fn render(&self) -> String {
        let (legend, legend_h) = self.legend_svg();
        let total_h = self.h + legend_h;
        let extra = self.extra_bottom();
        let (x0, x1) = (LEFT, self.w - RIGHT);
        let (y0, y1) = (TOP, self.h - BOTTOM - extra);
        let mut s = String::new();
        let _ = write!(
            s,
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{t}"><title>{t}</title>"#,
            w = c(self.w),
            h = c(total_h),
            t = esc(&self.title)
        );
        let _ = write!(
            s,
            r#"<text class="title" x="{}" y="18">{}</text>"#,
            c(LEFT),
            esc(&self.title)
        );
        // Grid and tick labels.
        s.push_str(r#"<g class="axis">"#);
        for (v, label) in &self.y.ticks {
            let y = self.py(*v);
            if y < y0 - 0.5 || y > y1 + 0.5 {
                continue;
            }
            let _ = write!(
                s,
                r#"<path class="grid" d="M{},{}L{},{}"/><text x="{}" y="{}" text-anchor="end">{}</text>"#,
                c(x0),
                c(y),
                c(x1),
                c(y),
                c(x0 - 5.0),
                c(y + 4.0),
                esc(label)
            );
        }
        for (v, label) in &self.x.ticks {
            let x = self.px(*v);
            if x < x0 - 0.5 || x > x1 + 0.5 {
                continue;
            }
            if !self.x.categorical {
                let _ = write!(
                    s,
                    r#"<path class="grid" d="M{},{}L{},{}"/>"#,
                    c(x),
                    c(y0),
                    c(x),
                    c(y1)
                );
            }
            for (i, line) in label.split('\n').enumerate() {
                let _ = write!(
                    s,
                    r#"<text x="{}" y="{}" text-anchor="middle"{}>{}</text>"#,
                    c(x),
                    c(y1 + 15.0 + 13.0 * i as f64),
                    if i > 0 { r#" class="sub""# } else { "" },
                    esc(line)
                );
            }
        }
        let _ = write!(
            s,
            r#"<path class="frame" d="M{x0},{y0}L{x0},{y1}L{x1},{y1}"/>"#,
            x0 = c(x0),
            y0 = c(y0),
            x1 = c(x1),
            y1 = c(y1)
        );
        let _ = write!(
            s,
            r#"<text class="label" x="{}" y="{}" text-anchor="middle">{}</text>"#,
            c((x0 + x1) / 2.0),
            c(y1 + 34.0 + extra),
            esc(&self.x.label)
        );
        let _ = write!(
            s,
            r#"<text class="label" transform="translate(14,{}) rotate(-90)" text-anchor="middle">{}</text>"#,
            c((y0 + y1) / 2.0),
            esc(&self.y.label)
        );
        s.push_str("</g>");
        let _ = write!(
            s,
            r#"<g class="marks">{}</g><g class="legend">{}</g></svg>"#,
            self.body, legend
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(num(0.0), "0");
        assert_eq!(num(3.0), "3");
        assert_eq!(num(0.19295), "0.193");
        assert_eq!(num(449.79146), "449.8");
        assert_eq!(num(0.05), "0.05");
        assert_eq!(num(f64::NAN), "–");
        assert_eq!(num(1.5e-6), "1.500e-6");
    }

    #[test]
    fn escapes() {
        assert_eq!(
            esc(r#"<a & "b" 'c'>"#),
            "&lt;a &amp; &quot;b&quot; &#39;c&#39;&gt;"
        );
        assert_eq!(esc("a\u{1}b"), "a\u{fffd}b");
    }

    #[test]
    fn linear_ticks_are_round() {
        let a = Axis::linear("x", 0.0, 0.193);
        let labels: Vec<&str> = a.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0.00", "0.05", "0.10", "0.15", "0.20"]);
        let a = Axis::linear("x", 0.0, 0.1);
        let labels: Vec<&str> = a.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["0.00", "0.02", "0.04", "0.06", "0.08", "0.10"]);
        let l = Axis::log("t", 1.0, 10000.0);
        assert_eq!(l.ticks.first().map(|t| t.0), Some(1.0));
        assert_eq!(l.ticks.last().map(|t| t.0), Some(10000.0));
    }

    #[test]
    fn log_span_stays_near_the_data() {
        let a = Axis::log_span("n", 25000.0, 400000.0);
        let labels: Vec<&str> = a.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["50000", "100000", "200000"]);
        assert!(a.lo < 25000.0 && a.lo > 20000.0 && a.hi > 400000.0 && a.hi < 500000.0);
        let b = Axis::log_span("n", 700.0, 900.0);
        let labels: Vec<&str> = b.ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(labels, ["700", "800", "900"]);
    }
}
