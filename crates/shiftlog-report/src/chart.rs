//! Line charts over an evolution's steps, drawn by `plotters` into SVG strings.

use crate::ReportError;
use plotters::prelude::*;

/// Line colours, in order (Okabe–Ito, then greys).
const PALETTE: &[RGBColor] = &[
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
    RGBColor(0, 0, 0),
    RGBColor(140, 109, 49),
    RGBColor(120, 120, 120),
];

/// One line: its name and a value per step (NaN where the value is undefined: the line
/// skips that step).
pub(crate) struct Series {
    pub name: String,
    pub values: Vec<f64>,
}

/// A line chart of `series` over the steps labelled `labels` (one label per step).
pub(crate) fn line_chart(title: &str, labels: &[String], series: &[Series]) -> Result<String, ReportError> {
    let mut out = String::new();
    let n = labels.len().max(2);
    let top = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::max);
    let top = if top <= 0.0 { 1.0 } else { top * 1.1 };
    // Most measures are never negative; an index such as E-I runs down to -1.
    let bottom = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .filter(|v| v.is_finite())
        .fold(0.0_f64, f64::min);
    let bottom = if bottom < 0.0 { bottom * 1.1 } else { 0.0 };
    {
        let root = SVGBackend::with_string(&mut out, (600, 260)).into_drawing_area();
        root.fill(&WHITE).map_err(chart_error)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 15))
            .margin(8)
            .margin_right(150)
            .x_label_area_size(28)
            .y_label_area_size(44)
            .build_cartesian_2d(0.0..(n - 1) as f64, bottom..top)
            .map_err(chart_error)?;
        let label = |x: &f64| {
            let i = x.round() as usize;
            if (x - i as f64).abs() < 1e-6 {
                labels.get(i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .x_labels(labels.len().clamp(2, 8))
            .x_label_formatter(&label)
            .y_labels(5)
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(chart_error)?;
        for (i, s) in series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            chart
                .draw_series(LineSeries::new(
                    s.values
                        .iter()
                        .enumerate()
                        .filter(|(_, y)| y.is_finite())
                        .map(|(x, y)| (x as f64, *y)),
                    colour.stroke_width(2),
                ))
                .map_err(chart_error)?
                .label(s.name.as_str())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(2)));
        }
        chart
            .configure_series_labels()
            .margin(4)
            .legend_area_size(20)
            .border_style(WHITE)
            .background_style(WHITE.mix(0.8))
            .label_font(("sans-serif", 11))
            .position(SeriesLabelPosition::Coordinate(455, 28))
            .draw()
            .map_err(chart_error)?;
        root.present().map_err(chart_error)?;
    }
    Ok(out)
}

fn chart_error<E: std::fmt::Display>(e: E) -> ReportError {
    ReportError::Chart(e.to_string())
}
