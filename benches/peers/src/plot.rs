//! PNG charts from the comparison's samples (plotters, bitmap backend).
//!
//! Every value drawn is the median over rounds of one (workload, contender,
//! workers, pinned, metric) group.
//!
//! * `throughput-<workload>.png` (`/` replaced by `-`) for each workload with
//!   `mjobs_per_s`: million jobs per second by worker count (log scale,
//!   labelled at the measured counts), one line per contender, pinned samples
//!   (unpinned if there are no pinned ones).
//! * `latency-<workload>.png` for each workload with quantiles: latency by
//!   percentile on a "nines" axis (`1 / (1 - p)` on a log scale, one decade
//!   per nine), log-scale ns, one line per contender at its largest worker
//!   count.
//! * `pinning-<workload>.png` for each of those workloads that has both pinned
//!   and unpinned samples: pinned vs unpinned bars per contender (Mjobs/s, or
//!   the p50 latency), at the largest worker count present in both.
//!
//! Each contender keeps one colour and marker in every chart (assigned in
//! order of first appearance). Each PNG path is printed as written.
//!
//! plotters' `ab_glyph` text backend has no system font lookup, so a
//! TrueType font is loaded from `$PLOT_FONT` if set, else the first of
//! [`FONT_PATHS`] that exists; without one, a message names `PLOT_FONT` and
//! nothing is drawn (not an error).

use std::collections::HashMap;
use std::error::Error;
use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use plotters::style::{FontStyle, register_font};

use crate::report::{Sample, median};

/// Font family name the loaded font is registered under, used by every text.
const FONT: &str = "sans-serif";

/// Fallback fonts, tried in order after `$PLOT_FONT`.
pub const FONT_PATHS: [&str; 3] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

/// Size of the plot part of every image; the legend panel is added on the right.
const PLOT_W: u32 = 820;
/// Height of every image.
const HEIGHT: u32 = 560;

/// Distinct series colours (Tableau 10 plus two), cycled by contender index.
const PALETTE: [RGBColor; 12] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(57, 59, 121),
    RGBColor(140, 109, 49),
];

/// Colour for mesh lines and neutral legend swatches.
const GREY: RGBColor = RGBColor(110, 110, 110);

type Res<T> = Result<T, Box<dyn Error>>;
type Area<'a> = DrawingArea<BitMapBackend<'a>, Shift>;
type Chart<'a, 'b, X, Y> = ChartContext<'a, BitMapBackend<'b>, Cartesian2d<X, Y>>;

/// Draws every chart `samples` allow into `out` (created if needed).
/// Returns false if some chart could not be drawn (the others still are);
/// a missing font or no samples is not a failure.
pub fn draw(samples: &[Sample], out: &Path) -> bool {
    if !load_font() {
        println!(
            "plot: no font found; set PLOT_FONT to the path of a .ttf/.otf font \
             (tried {}). Nothing plotted.",
            FONT_PATHS.join(", ")
        );
        return true;
    }
    if samples.is_empty() {
        println!("plot: no samples; nothing to plot.");
        return true;
    }
    if let Err(e) = std::fs::create_dir_all(out) {
        eprintln!("plot: error: cannot create {}: {e}", out.display());
        return false;
    }
    let data = Data::new(samples);

    let mut ok = true;
    let mut written = 0;
    let mut report = |name: String, r: Res<bool>| match r {
        Ok(true) => {
            written += 1;
            println!("{}", out.join(&name).display());
        }
        Ok(false) => {}
        Err(e) => {
            ok = false;
            eprintln!("plot: error drawing {}: {e}", out.join(&name).display());
        }
    };
    for w in &data.workloads {
        let s = slug(w);
        if data.has(w, |m| m == THROUGHPUT) {
            let name = format!("throughput-{s}.png");
            report(name.clone(), plot_throughput(&data, w, &out.join(&name)));
        }
        if data.has(w, |m| quantile(m).is_some()) {
            let name = format!("latency-{s}.png");
            report(name.clone(), plot_latency(&data, w, &out.join(&name)));
        }
    }
    for w in &data.workloads {
        let metric = if data.has(w, |m| m == THROUGHPUT) {
            Some(THROUGHPUT.to_string())
        } else {
            data.metrics(w)
                .into_iter()
                .find(|m| quantile(m) == Some(0.5))
        };
        if let Some(metric) = metric {
            let both = [true, false]
                .iter()
                .all(|&p| data.rows.iter().any(|r| is(r, w, p, &metric)));
            if both {
                let name = format!("pinning-{}.png", slug(w));
                report(
                    name.clone(),
                    plot_pinning(&data, w, &metric, &out.join(&name)),
                );
            }
        }
    }
    if written == 0 && ok {
        println!("plot: no throughput or latency samples");
    }
    ok
}

/// Registers the first usable font (`$PLOT_FONT`, then [`FONT_PATHS`]) as
/// [`FONT`]; returns whether one was found.
fn load_font() -> bool {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("PLOT_FONT").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(p));
    }
    candidates.extend(FONT_PATHS.iter().map(PathBuf::from));
    for path in candidates {
        let Ok(bytes) = std::fs::read(&path) else {
            if std::env::var_os("PLOT_FONT").is_some_and(|p| path.as_os_str() == p) {
                eprintln!("plot: warning: cannot read PLOT_FONT={}", path.display());
            }
            continue;
        };
        // plotters keeps the font for the life of the process.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        match register_font(FONT, FontStyle::Normal, bytes) {
            Ok(()) => return true,
            Err(_) => eprintln!("plot: warning: {} is not a usable font", path.display()),
        }
    }
    false
}

/// The metric plotted for throughput workloads.
const THROUGHPUT: &str = "mjobs_per_s";

/// The quantile named by a latency metric: `q0.99` -> 0.99, and the older
/// spelling `p99` -> 0.99, `p999` -> 0.999. `None` for other metrics and for
/// quantiles outside (0, 1), which the nines axis cannot show.
fn quantile(metric: &str) -> Option<f64> {
    let p = if let Some(q) = metric.strip_prefix('q') {
        q.parse::<f64>().ok()?
    } else {
        let digits = metric.strip_prefix('p')?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        format!("0.{digits}").parse::<f64>().ok()?
    };
    (p > 0.0 && p < 1.0).then_some(p)
}

/// The position of quantile `p` on the log-scale percentile axis: one in
/// how many samples lies beyond it, `1 / (1 - p)` (0.9 -> 10, 0.99 -> 100),
/// so each nine is one decade.
fn tail(p: f64) -> f64 {
    1.0 / (1.0 - p)
}

/// Percentile axis label at position `x` ([`tail`]): 10 -> `p90`,
/// 1000 -> `p99.9`.
fn percentile_label(x: f64) -> String {
    format!("p{}", trim_num((1.0 - 1.0 / x) * 100.0, 4))
}

/// `v` with at most `decimals` decimals and no trailing zeros.
fn trim_num(v: f64, decimals: usize) -> String {
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// Human-readable duration for a value in ns: `250 ns`, `1.5 µs`, `20 ms`.
fn format_ns(v: f64) -> String {
    let (v, unit) = if v >= 1e9 {
        (v / 1e9, "s")
    } else if v >= 1e6 {
        (v / 1e6, "ms")
    } else if v >= 1e3 {
        (v / 1e3, "µs")
    } else {
        (v, "ns")
    };
    format!("{} {unit}", trim_num(v, 2))
}

/// A workload name usable in a file name: `/` and other odd characters -> `-`.
fn slug(workload: &str) -> String {
    workload
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// Whether sample `r` is of (`workload`, `pinned`, `metric`).
fn is(r: &Sample, workload: &str, pinned: bool, metric: &str) -> bool {
    r.workload == workload && r.pinned == pinned && r.metric == metric
}

/// Group key: (workload, contender, workers, pinned, metric).
type Key = (String, String, u32, bool, String);

/// The samples grouped over rounds.
struct Data<'a> {
    rows: &'a [Sample],
    /// Workloads in order of first appearance.
    workloads: Vec<String>,
    /// Contenders in order of first appearance; the index picks the colour.
    contenders: Vec<String>,
    groups: HashMap<Key, Vec<f64>>,
}

impl<'a> Data<'a> {
    fn new(rows: &'a [Sample]) -> Data<'a> {
        let mut data = Data {
            rows,
            workloads: Vec::new(),
            contenders: Vec::new(),
            groups: HashMap::new(),
        };
        for r in rows {
            if !data.workloads.contains(&r.workload) {
                data.workloads.push(r.workload.clone());
            }
            if !data.contenders.contains(&r.contender) {
                data.contenders.push(r.contender.clone());
            }
            let key = (
                r.workload.clone(),
                r.contender.clone(),
                r.workers,
                r.pinned,
                r.metric.clone(),
            );
            data.groups.entry(key).or_default().push(r.value);
        }
        data
    }

    /// Whether `workload` has any sample whose metric satisfies `f`.
    fn has(&self, workload: &str, f: impl Fn(&str) -> bool) -> bool {
        self.rows
            .iter()
            .any(|r| r.workload == workload && f(&r.metric))
    }

    /// The distinct metrics of `workload`, in order of first appearance.
    fn metrics(&self, workload: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for r in self.rows.iter().filter(|r| r.workload == workload) {
            if !out.contains(&r.metric) {
                out.push(r.metric.clone());
            }
        }
        out
    }

    /// Median and sample count of one group, if it has samples.
    fn median(
        &self,
        workload: &str,
        contender: &str,
        workers: u32,
        pinned: bool,
        metric: &str,
    ) -> Option<(f64, usize)> {
        let key = (
            workload.to_string(),
            contender.to_string(),
            workers,
            pinned,
            metric.to_string(),
        );
        self.groups
            .get(&key)
            .filter(|v| !v.is_empty())
            .map(|v| (median(v), v.len()))
    }

    /// Sorted distinct worker counts of `contender` (any if `None`) in the
    /// rows of (`workload`, `pinned`) whose metric satisfies `f`.
    fn workers(
        &self,
        workload: &str,
        contender: Option<&str>,
        pinned: bool,
        f: impl Fn(&str) -> bool,
    ) -> Vec<u32> {
        let mut w: Vec<u32> = self
            .rows
            .iter()
            .filter(|r| r.workload == workload && r.pinned == pinned && f(&r.metric))
            .filter(|r| contender.is_none_or(|c| r.contender == c))
            .map(|r| r.workers)
            .collect();
        w.sort_unstable();
        w.dedup();
        w
    }

    /// The pinned flag to plot for `workload`: pinned if it has any pinned
    /// sample whose metric satisfies `f`, else unpinned.
    fn pinned_choice(&self, workload: &str, f: impl Fn(&str) -> bool) -> bool {
        // The cache-line floor is always measured pinned; it says nothing
        // about which placement the contenders used.
        self.rows.iter().any(|r| {
            r.workload == workload && r.pinned && r.contender != "cache-line floor" && f(&r.metric)
        })
    }

    /// How a contender is drawn, stable across charts.
    fn look(&self, contender: &str) -> Look {
        let i = self
            .contenders
            .iter()
            .position(|c| c == contender)
            .unwrap_or(0);
        let cycle = i / PALETTE.len();
        Look {
            color: PALETTE[i % PALETTE.len()],
            // Shifted each time the palette wraps, so a repeated colour
            // never comes with the same marker; repeats are also dashed.
            marker: Marker::ALL[(i + cycle) % Marker::ALL.len()],
            dashed: cycle % 2 == 1,
        }
    }
}

/// "median of N rounds" for the sample counts of the groups drawn.
fn rounds_text(counts: &[usize]) -> String {
    let lo = counts.iter().copied().min().unwrap_or(0);
    let hi = counts.iter().copied().max().unwrap_or(0);
    match (lo, hi) {
        (1, 1) => "median of 1 round".to_string(),
        (lo, hi) if lo == hi => format!("median of {hi} rounds"),
        (lo, hi) => format!("median of {lo}-{hi} rounds"),
    }
}

/// Colour, marker and line pattern of one contender.
#[derive(Clone, Copy)]
struct Look {
    color: RGBColor,
    marker: Marker,
    dashed: bool,
}

impl Look {
    /// The line style of the series.
    fn stroke(self) -> ShapeStyle {
        self.color.stroke_width(2)
    }

    /// Draws the contender's line through `pts`, with its markers, in `chart`.
    fn draw_series<X, Y>(self, chart: &mut Chart<X, Y>, pts: &[(f64, f64)]) -> Res<()>
    where
        X: Ranged<ValueType = f64>,
        Y: Ranged<ValueType = f64>,
    {
        if self.dashed {
            chart.draw_series(DashedLineSeries::new(pts.to_vec(), 8, 5, self.stroke()))?;
        } else {
            chart.draw_series(LineSeries::new(pts.to_vec(), self.stroke()))?;
        }
        self.marker.draw_series(chart, pts, self.color)
    }
}

/// Point marker shape, cycled by contender so overlapping series stay apart.
#[derive(Clone, Copy)]
enum Marker {
    Circle,
    Triangle,
    Square,
}

impl Marker {
    const ALL: [Marker; 3] = [Marker::Circle, Marker::Triangle, Marker::Square];

    /// Draws the marker centred on `at` (pixels) in `area` (the legend).
    fn draw_px(self, area: &Area, at: (i32, i32), color: RGBColor) -> Res<()> {
        let style = color.filled();
        match self {
            Marker::Circle => area.draw(&Circle::new(at, 4, style))?,
            Marker::Triangle => area.draw(&TriangleMarker::new(at, 6, style))?,
            Marker::Square => area.draw(&Rectangle::new(
                [(at.0 - 4, at.1 - 4), (at.0 + 4, at.1 + 4)],
                style,
            ))?,
        }
        Ok(())
    }

    /// Draws the marker at each of `pts` (data coordinates) in `chart`.
    fn draw_series<X, Y>(
        self,
        chart: &mut Chart<X, Y>,
        pts: &[(f64, f64)],
        color: RGBColor,
    ) -> Res<()>
    where
        X: Ranged<ValueType = f64>,
        Y: Ranged<ValueType = f64>,
    {
        let style = color.filled();
        let at = |p: &(f64, f64)| EmptyElement::at(*p);
        match self {
            Marker::Circle => {
                chart.draw_series(pts.iter().map(|p| at(p) + Circle::new((0, 0), 4, style)))?;
            }
            Marker::Triangle => {
                chart.draw_series(
                    pts.iter()
                        .map(|p| at(p) + TriangleMarker::new((0, 0), 6, style)),
                )?;
            }
            Marker::Square => {
                chart.draw_series(
                    pts.iter()
                        .map(|p| at(p) + Rectangle::new([(-4, -4), (4, 4)], style)),
                )?;
            }
        }
        Ok(())
    }
}

/// How a legend entry's swatch is drawn.
enum Swatch {
    /// A line with the contender's marker (line charts).
    Line(Look),
    /// A solid bar.
    Solid(RGBColor),
    /// A pale bar with a solid border.
    Pale(RGBColor),
}

/// Creates the image: a white canvas with `title` on top, split into the plot
/// area (returned first) and a legend panel on the right listing `entries`.
fn canvas<'a>(
    path: &'a Path,
    title: &str,
    entries: &[(String, Swatch)],
) -> Res<(Area<'a>, Area<'a>)> {
    let label = (FONT, 15).into_font();
    let widest = entries
        .iter()
        .map(|(l, _)| {
            label
                .box_size(l)
                .map(|(w, _)| w)
                .unwrap_or(8 * l.len() as u32)
        })
        .max()
        .unwrap_or(0);
    let legend_w = (widest + 64).clamp(150, 420);
    let root = BitMapBackend::new(path, (PLOT_W + legend_w, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let body = root.titled(title, (FONT, 21).into_font().color(&BLACK))?;
    let (plot, legend) = body.split_horizontally(PLOT_W);

    let text = label.color(&BLACK).pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (name, swatch)) in entries.iter().enumerate() {
        let y = 24 + 26 * i as i32;
        match *swatch {
            Swatch::Line(look) => {
                let line = vec![(6, y), (44, y)];
                if look.dashed {
                    legend.draw(&DashedPathElement::new(line, 8, 5, look.stroke()))?;
                } else {
                    legend.draw(&PathElement::new(line, look.stroke()))?;
                }
                look.marker.draw_px(&legend, (25, y), look.color)?;
            }
            Swatch::Solid(c) => {
                legend.draw(&Rectangle::new([(10, y - 7), (40, y + 7)], c.filled()))?
            }
            Swatch::Pale(c) => {
                legend.draw(&Rectangle::new(
                    [(10, y - 7), (40, y + 7)],
                    c.mix(0.3).filled(),
                ))?;
                legend.draw(&Rectangle::new(
                    [(10, y - 7), (40, y + 7)],
                    c.stroke_width(1),
                ))?;
            }
        }
        legend.draw(&Text::new(name.clone(), (50, y), text.clone()))?;
    }
    Ok((plot, legend))
}

/// Shared mesh styling: light grey grid, readable labels.
macro_rules! styled_mesh {
    ($chart:expr) => {
        $chart
            .configure_mesh()
            .label_style((FONT, 14).into_font().color(&BLACK))
            .axis_desc_style((FONT, 16).into_font().color(&BLACK))
            .bold_line_style(GREY.mix(0.25))
            .light_line_style(GREY.mix(0.08))
            .max_light_lines(1)
            .axis_style(GREY.stroke_width(1))
    };
}

/// `throughput-<workload>.png`: median Mjobs/s by worker count, one line per
/// contender. Returns `Ok(false)` (with a message) if there is nothing to draw.
fn plot_throughput(data: &Data, workload: &str, path: &Path) -> Res<bool> {
    let is_tp = |m: &str| m == THROUGHPUT;
    let pinned = data.pinned_choice(workload, is_tp);
    let mut series: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
    let mut counts = Vec::new();
    for c in &data.contenders {
        let pts: Vec<(f64, f64)> = data
            .workers(workload, Some(c), pinned, is_tp)
            .into_iter()
            .filter_map(|w| {
                let (m, n) = data.median(workload, c, w, pinned, THROUGHPUT)?;
                counts.push(n);
                Some((f64::from(w), m))
            })
            .collect();
        if !pts.is_empty() {
            series.push((c, pts));
        }
    }
    if series.is_empty() {
        println!("plot: {workload}: no {THROUGHPUT} samples; skipping throughput chart");
        return Ok(false);
    }
    // A log scale labelled at exactly the measured worker counts (its key
    // points), so doubling counts (1, 2, 4, ..., 64) are evenly spread.
    // Padded by 6% of the span in doublings (at least a quarter of one) so no
    // point sits on the frame; a single count is centred, one doubling from
    // either side.
    let xs: Vec<f64> = data
        .workers(workload, None, pinned, is_tp)
        .into_iter()
        .map(f64::from)
        .collect();
    let (x0, x1) = (xs[0], xs[xs.len() - 1]);
    let pad = if x1 > x0 {
        ((x1 / x0).log2() * 0.06).max(0.25).exp2()
    } else {
        2.0
    };
    let ymax = series
        .iter()
        .flat_map(|(_, p)| p.iter().map(|&(_, y)| y))
        .fold(0.0_f64, f64::max);
    let ymax = if ymax > 0.0 { ymax * 1.1 } else { 1.0 };

    let title = format!(
        "{workload}: throughput by worker count ({}{})",
        rounds_text(&counts),
        if pinned { "" } else { ", unpinned" }
    );
    let entries: Vec<(String, Swatch)> = series
        .iter()
        .map(|(c, _)| (c.to_string(), Swatch::Line(data.look(c))))
        .collect();
    let (plot, _legend) = canvas(path, &title, &entries)?;
    let mut chart = ChartBuilder::on(&plot)
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(72)
        .build_cartesian_2d(
            (x0 / pad..x1 * pad).log_scale().with_key_points(xs),
            0.0..ymax,
        )?;
    styled_mesh!(chart)
        .x_desc("workers (log scale)")
        .y_desc("million jobs per second")
        .x_label_formatter(&|x| format!("{}", x.round()))
        .y_label_formatter(&|y| trim_num(*y, 2))
        .draw()?;
    for (c, pts) in &series {
        data.look(c).draw_series(&mut chart, pts)?;
    }
    plot.present()?;
    Ok(true)
}

/// `latency-<workload>.png`: median latency by percentile on a nines axis,
/// log-scale ns, one line per contender at its largest worker count.
fn plot_latency(data: &Data, workload: &str, path: &Path) -> Res<bool> {
    let is_q = |m: &str| quantile(m).is_some();
    let pinned = data.pinned_choice(workload, is_q);
    let mut qs: Vec<(f64, String)> = data
        .metrics(workload)
        .into_iter()
        .filter_map(|m| Some((quantile(&m)?, m)))
        .collect();
    qs.sort_by(|a, b| a.0.total_cmp(&b.0));

    let mut series: Vec<(&str, Vec<(f64, f64)>)> = Vec::new();
    let mut counts = Vec::new();
    let mut dropped = 0;
    for c in &data.contenders {
        let Some(&w) = data.workers(workload, Some(c), pinned, is_q).last() else {
            continue;
        };
        let mut pts = Vec::new();
        for (p, m) in &qs {
            if let Some((v, n)) = data.median(workload, c, w, pinned, m) {
                if v > 0.0 {
                    pts.push((tail(*p), v));
                    counts.push(n);
                } else {
                    dropped += 1;
                }
            }
        }
        if !pts.is_empty() {
            series.push((c, pts));
        }
    }
    if dropped > 0 {
        eprintln!(
            "plot: warning: {workload}: {dropped} non-positive latencies left off (log axis)"
        );
    }
    if series.is_empty() {
        println!("plot: {workload}: no positive quantile samples; skipping latency chart");
        return Ok(false);
    }
    // Labelled at the measured quantiles; padded by a fraction of a decade.
    let xs: Vec<f64> = qs.iter().map(|(p, _)| tail(*p)).collect();
    let (x0, x1) = (xs[0], xs[xs.len() - 1]);
    let decades = if x1 > x0 {
        ((x1 / x0).log10() * 0.05).max(0.15)
    } else {
        0.5
    };
    let pad = 10f64.powf(decades);
    // Whole decades, so plotters labels both ends (1 ns, 10 ns, ...).
    let ys = series.iter().flat_map(|(_, p)| p.iter().map(|&(_, y)| y));
    let (lo, hi) = ys.fold((f64::INFINITY, 0.0_f64), |(lo, hi), y| {
        (lo.min(y), hi.max(y))
    });
    let (lo, hi) = ((lo / 1.2).log10().floor(), (hi * 1.2).log10().ceil());
    // Labels at the decades with light lines at 2..9 x 10^k between them
    // (up to 8 decades; more get every other decade and no light lines),
    // or at each 1..9 x 10^k if there is just one decade.
    let (y_labels, y_light) = if hi - lo > 1.0 { (8, 10) } else { (10, 1) };
    let (lo, hi) = (10f64.powf(lo), 10f64.powf(hi));

    let title = format!(
        "{workload}: latency by percentile (ns, log scale; {}{})",
        rounds_text(&counts),
        if pinned { "" } else { ", unpinned" }
    );
    let entries: Vec<(String, Swatch)> = series
        .iter()
        .map(|(c, _)| (c.to_string(), Swatch::Line(data.look(c))))
        .collect();
    let (plot, _legend) = canvas(path, &title, &entries)?;
    let mut chart = ChartBuilder::on(&plot)
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (x0 / pad..x1 * pad).log_scale().with_key_points(xs),
            (lo..hi).log_scale(),
        )?;
    styled_mesh!(chart)
        .y_labels(y_labels)
        .y_max_light_lines(y_light)
        .x_desc("percentile")
        .y_desc("latency (log scale)")
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| format_ns(*y))
        .draw()?;
    for (c, pts) in &series {
        data.look(c).draw_series(&mut chart, pts)?;
    }
    plot.present()?;
    Ok(true)
}

/// `pinning-<workload>.png`: horizontal bars per contender, pinned (solid) vs
/// unpinned (pale), of the median `metric` at the largest worker count that
/// has both pinned and unpinned samples.
fn plot_pinning(data: &Data, workload: &str, metric: &str, path: &Path) -> Res<bool> {
    let is_m = |m: &str| m == metric;
    let on = data.workers(workload, None, true, is_m);
    let off = data.workers(workload, None, false, is_m);
    let Some(&w) = on.iter().rev().find(|w| off.contains(w)) else {
        println!(
            "plot: {workload}: no worker count has both pinned and unpinned {metric}; \
             skipping pinning chart"
        );
        return Ok(false);
    };
    let mut bars: Vec<(&str, Option<f64>, Option<f64>)> = Vec::new();
    let mut counts = Vec::new();
    for c in &data.contenders {
        let mut get = |p| {
            data.median(workload, c, w, p, metric).map(|(v, n)| {
                counts.push(n);
                v
            })
        };
        let (a, b) = (get(true), get(false));
        if a.is_some() || b.is_some() {
            bars.push((c, a, b));
        }
    }
    if bars.is_empty() {
        println!("plot: {workload}: no {metric} samples at {w} workers; skipping pinning chart");
        return Ok(false);
    }
    let is_latency = metric != THROUGHPUT;
    let xmax = bars
        .iter()
        .flat_map(|(_, a, b)| [*a, *b])
        .flatten()
        .fold(0.0_f64, f64::max);
    let xmax = if xmax > 0.0 { xmax * 1.18 } else { 1.0 };
    let n = bars.len();

    let what = if is_latency {
        "p50 latency"
    } else {
        "throughput"
    };
    let title = format!(
        "{workload}: {what} pinned vs unpinned, {w} worker{} ({})",
        if w == 1 { "" } else { "s" },
        rounds_text(&counts)
    );
    let entries = vec![
        ("pinned".to_string(), Swatch::Solid(GREY)),
        ("unpinned".to_string(), Swatch::Pale(GREY)),
    ];
    let (plot, _legend) = canvas(path, &title, &entries)?;
    let label = (FONT, 14).into_font();
    let name_w = bars
        .iter()
        .map(|(c, ..)| {
            label
                .box_size(c)
                .map(|(w, _)| w)
                .unwrap_or(8 * c.len() as u32)
        })
        .max()
        .unwrap_or(0);
    // Contender i sits at y = n - 1 - i, so the first one is on top.
    let mut chart = ChartBuilder::on(&plot)
        .margin(16)
        .x_label_area_size(48)
        .y_label_area_size((name_w + 16).min(PLOT_W / 2))
        .build_cartesian_2d(0.0..xmax, -0.5..n as f64 - 0.5)?;
    let name_of = |y: &f64| {
        let i = n as f64 - 1.0 - y.round();
        bars.get(i as usize)
            .filter(|_| i >= 0.0)
            .map(|b| b.0.to_string())
            .unwrap_or_default()
    };
    // Same number of decimals on every bar, so the values line up.
    let decimals = match xmax {
        m if m >= 100.0 => 0,
        m if m >= 10.0 => 1,
        _ => 2,
    };
    let bar_fmt = |v: f64| {
        if is_latency {
            format_ns(v)
        } else {
            format!("{v:.decimals$}")
        }
    };
    styled_mesh!(chart)
        .disable_y_mesh()
        // n labels allow no step finer than 1: one per contender.
        .y_labels(n)
        .x_desc(if is_latency {
            "median p50 latency"
        } else {
            "million jobs per second"
        })
        .y_label_formatter(&name_of)
        .x_label_formatter(&|x| {
            if is_latency {
                format_ns(*x)
            } else {
                trim_num(*x, 2)
            }
        })
        .draw()?;
    let text = (FONT, 13)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(HPos::Left, VPos::Center));
    for (i, (c, a, b)) in bars.iter().enumerate() {
        let col = data.look(c).color;
        let y = (n - 1 - i) as f64;
        for (v, top, pale) in [(a, true, false), (b, false, true)] {
            let Some(v) = *v else { continue };
            let (y0, y1) = if top {
                (y + 0.03, y + 0.36)
            } else {
                (y - 0.36, y - 0.03)
            };
            if pale {
                chart.draw_series([
                    Rectangle::new([(0.0, y0), (v, y1)], col.mix(0.3).filled()),
                    Rectangle::new([(0.0, y0), (v, y1)], col.stroke_width(1)),
                ])?;
            } else {
                chart.draw_series([Rectangle::new([(0.0, y0), (v, y1)], col.filled())])?;
            }
            chart.draw_series([EmptyElement::at((v, (y0 + y1) / 2.0))
                + Text::new(bar_fmt(v), (5, 0), text.clone())])?;
        }
    }
    plot.present()?;
    Ok(true)
}
