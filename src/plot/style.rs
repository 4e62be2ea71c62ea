//! Look and feel shared by every figure: the embedded font, text sizes,
//! colours, number formatting and the title lines built from the manifest.

use std::sync::OnceLock;

use plotters::style::{FontStyle, RGBColor, register_font};

use super::PlotError;
use super::data::{Instance, Manifest};

/// DejaVu Sans, shipped in the repository (see assets/fonts/README.txt) so
/// that text looks the same everywhere and no system font lookup is needed.
static FONT_BYTES: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/fonts/DejaVuSans.ttf"
));

/// The family name the font is registered under. The generic name means an
/// SVG viewer without DejaVu still picks a sans-serif face for the text.
pub const FONT: &str = "sans-serif";

/// Text sizes, chosen to stay legible on a projected slide. plotters treats
/// these as line heights and writes SVG font sizes of size / 1.24, so 25
/// is the smallest that gives a 20 px em.
pub const TITLE_PX: u32 = 38;
pub const SUBTITLE_PX: u32 = 26;
pub const LABEL_PX: u32 = 28;
pub const TICK_PX: u32 = 25;
pub const CAPTION_PX: u32 = 28;
pub const LEGEND_PX: u32 = 26;

/// Standard figure size; taller figures grow from it.
pub const WIDTH: u32 = 1200;
pub const HEIGHT: u32 = 800;

/// Registers the embedded font once per process.
pub fn ensure_font() -> Result<(), PlotError> {
    static DONE: OnceLock<Result<(), String>> = OnceLock::new();
    DONE.get_or_init(|| {
        register_font(FONT, FontStyle::Normal, FONT_BYTES)
            .map_err(|_| "DejaVuSans.ttf is not a valid font".to_string())
    })
    .clone()
    .map_err(PlotError::Font)
}

pub const BLACK: RGBColor = RGBColor(0, 0, 0);
pub const GREY: RGBColor = RGBColor(120, 120, 120);
pub const LIGHT_GREY: RGBColor = RGBColor(215, 215, 215);
pub const NO_VALUE: RGBColor = RGBColor(200, 200, 200);

/// Fixed colours for the known rules, so a rule keeps its colour from one
/// run's slides to the next; drawn from the Okabe–Ito colour-blind-safe set.
/// fa and dfa, often compared, get blue and orange (apart in hue and in
/// lightness, for every kind of colour blindness), not two blues.
const RULE_COLOURS: [(&str, RGBColor); 7] = [
    ("sgd", RGBColor(0, 0, 0)),
    ("fa", RGBColor(0, 114, 178)),
    ("dfa", RGBColor(230, 159, 0)),
    ("kp", RGBColor(0, 158, 115)),
    ("hebbian", RGBColor(213, 94, 0)),
    ("anti_hebbian", RGBColor(86, 180, 233)),
    ("oja", RGBColor(204, 121, 167)),
];

/// Colours for other labels, used in order, skipping any already taken.
const EXTRA_COLOURS: [RGBColor; 8] = [
    RGBColor(68, 1, 84),
    RGBColor(120, 94, 240),
    RGBColor(160, 160, 160),
    RGBColor(140, 86, 75),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
];

/// One distinct colour per label (labels in display order).
pub fn label_colours(labels: &[String]) -> Vec<(String, RGBColor)> {
    let known = |l: &str| {
        RULE_COLOURS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(l))
            .map(|&(_, c)| c)
    };
    let mut taken: Vec<RGBColor> = labels.iter().filter_map(|l| known(l)).collect();
    let mut spare = EXTRA_COLOURS
        .iter()
        .chain(RULE_COLOURS.iter().map(|(_, c)| c))
        .copied()
        .cycle();
    labels
        .iter()
        .map(|l| {
            let c = known(l).unwrap_or_else(|| {
                // Bounded: after one full cycle we accept a repeat.
                let pool = EXTRA_COLOURS.len() + RULE_COLOURS.len();
                let mut pick = spare.next().unwrap_or(GREY);
                for _ in 0..pool {
                    if !taken.contains(&pick) {
                        break;
                    }
                    pick = spare.next().unwrap_or(GREY);
                }
                taken.push(pick);
                pick
            });
            (l.clone(), c)
        })
        .collect()
}

/// Diverging blue–white–red map (after ColorBrewer RdBu) for `x` in [−1, 1];
/// values outside are clamped, `NaN` is grey.
pub fn diverging(x: f64) -> RGBColor {
    const STOPS: [(f64, [f64; 3]); 5] = [
        (-1.0, [33.0, 102.0, 172.0]),
        (-0.5, [103.0, 169.0, 207.0]),
        (0.0, [247.0, 247.0, 247.0]),
        (0.5, [239.0, 138.0, 98.0]),
        (1.0, [178.0, 24.0, 43.0]),
    ];
    if !x.is_finite() {
        return NO_VALUE;
    }
    let x = x.clamp(-1.0, 1.0);
    let i = STOPS
        .windows(2)
        .position(|w| x <= w[1].0)
        .unwrap_or(STOPS.len() - 2);
    let (x0, c0) = STOPS[i];
    let (x1, c1) = STOPS[i + 1];
    let f = (x - x0) / (x1 - x0);
    let mix = |k: usize| (c0[k] + f * (c1[k] - c0[k])).round() as u8;
    RGBColor(mix(0), mix(1), mix(2))
}

/// Formats a tick value with as many decimals as a span of `span` needs,
/// so ticks read "0.25" instead of "0.25000000000000006".
pub fn tick(v: f64, span: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let span = if span.is_finite() && span > 0.0 {
        span
    } else {
        v.abs().max(1e-12)
    };
    let mag = v.abs().max(span);
    if !(1e-3..1e5).contains(&mag) {
        return sci(v);
    }
    let mut decimals = (-(span / 5.0).log10().floor()).clamp(0.0, 6.0) as usize;
    // A tick such as 0.25 needs one more decimal than its axis span implies.
    while decimals < 8 {
        let scaled = v * 10f64.powi(decimals as i32);
        if (scaled - scaled.round()).abs() < 1e-6 {
            break;
        }
        decimals += 1;
    }
    trim(format!("{v:.decimals$}"))
}

/// Up to about `max_n` round tick values (steps of 1, 2, 2.5 or 5 times a
/// power of ten) within `lo..=hi`. plotters' own choice ignores how short
/// a panel is, and on a 100-pixel trace panel six labels overlap.
/// At least two ticks are returned, even if that takes more than `max_n`,
/// since a single labelled value gives no scale.
pub fn nice_ticks(lo: f64, hi: f64, max_n: usize) -> Vec<f64> {
    if !(lo.is_finite() && hi.is_finite() && hi > lo) {
        return Vec::new();
    }
    let max_n = max_n.max(2);
    let mut ticks = Vec::new();
    for n in max_n..max_n + 4 {
        ticks = ticks_at_most(lo, hi, n);
        if ticks.len() >= 2 {
            break;
        }
    }
    ticks
}

fn ticks_at_most(lo: f64, hi: f64, max_n: usize) -> Vec<f64> {
    let raw = (hi - lo) / (max_n - 1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| (((hi - lo) / s).floor() as usize) < max_n)
        .unwrap_or(10.0 * mag);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last)
        .map(|k| {
            let v = k as f64 * step;
            // Multiples of the step come out as 0.30000000000000004; the
            // rounding keeps them exact enough to label and to hit zero.
            (v / step).round() * step
        })
        .collect()
}

/// `v` with `digits` significant digits ("8.68", "0.139"), for values
/// printed in captions rather than on an axis.
pub fn significant(v: f64, digits: i32) -> String {
    if v == 0.0 || !v.is_finite() {
        return trim(format!("{v}"));
    }
    let decimals = (digits - 1 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    trim(format!("{v:.decimals$}"))
}

/// Ticks for an angle axis: multiples of 30° up to 90°-ish ranges, of 45°
/// over the whole half-turn, so that 90° (orthogonal) is always labelled.
pub fn angle_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let step = if hi - lo > 150.0 {
        45.0
    } else if hi - lo > 65.0 {
        30.0
    } else {
        15.0
    };
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// The power of ten (a multiple of 3) that an axis over `lo..hi` with
/// ticks `step` apart is labelled in, so that ticks read 0, 1, 2 with
/// "×10⁻³" written once instead of 0.001, 0.002 on every tick; 0 when
/// plain numbers stay short (at most two decimals, below 10 000).
pub fn axis_exponent(lo: f64, hi: f64, step: f64) -> i32 {
    let m = lo.abs().max(hi.abs());
    if !m.is_finite() || m == 0.0 || (m < 1e4 && step >= 0.01 - 1e-12) {
        return 0;
    }
    3 * (m.log10() / 3.0).floor() as i32
}

/// "×10⁻³" for `e` = −3, written with superscripts the embedded font has.
pub fn times_ten(e: i32) -> String {
    const SUP: [char; 10] = ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹'];
    let digits: String = e
        .unsigned_abs()
        .to_string()
        .chars()
        .map(|c| SUP[c.to_digit(10).unwrap_or(0) as usize])
        .collect();
    format!("×10{}{digits}", if e < 0 { "⁻" } else { "" })
}

/// The unit a time axis spanning `span` seconds reads best in, as (factor
/// from seconds, name): a 0.3 s trace reads as 0–300 ms, not 0–0.3 s.
pub fn time_unit(span: f64) -> (f64, &'static str) {
    if span >= 1.0 || !span.is_finite() {
        (1.0, "s")
    } else if span >= 1e-3 {
        (1e3, "ms")
    } else {
        (1e6, "µs")
    }
}

/// Formats a tick on a log axis: plain where short, otherwise 1e-5 style.
/// Only mantissas 1, 2, 3 and 5 are labelled, since 6–9 crowd together at
/// the top of a decade; their tick marks and grid lines stay.
pub fn log_tick(v: f64) -> String {
    if v <= 0.0 || !v.is_finite() {
        return String::new();
    }
    let mantissa = v / 10f64.powf(v.log10().floor());
    if ![1.0, 2.0, 3.0, 5.0, 10.0]
        .iter()
        .any(|m| (mantissa - m).abs() < 1e-6 * m)
    {
        return String::new();
    }
    if (1e-2..1e4).contains(&v.abs()) {
        trim(format!("{v:.2}"))
    } else {
        sci(v)
    }
}

fn sci(v: f64) -> String {
    let s = format!("{v:.1e}");
    // "1.0e-5" → "1e-5": the mantissa's trailing ".0" only adds clutter.
    s.replace(".0e", "e")
}

/// Drops trailing zeros and writes a typographic minus (U+2212), which is
/// as wide as a digit and so reads better than a hyphen on an axis.
fn trim(s: String) -> String {
    let t = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s.as_str()
    };
    if t == "-0" {
        "0".into()
    } else {
        t.replacen('-', "−", 1)
    }
}

/// Title of a figure: what it shows, for which rules, on which circuit —
/// "Learning curves: sgd, fa, dfa and kp on teacher-fa".
/// A circuit that writes its motifs out labels its instances with its own name: then the
/// title names it once ("Learning curves: four-synapse").
pub fn title(what: &str, m: &Manifest) -> String {
    if m.rules.len() == 1 && m.rules[0] == m.circuit {
        return format!("{what}: {}", m.circuit);
    }
    format!("{what}: {} on {}", listing(&m.rules), m.circuit)
}

/// Title of a figure about one rule's instance.
pub fn rule_title(what: &str, rule: &str, m: &Manifest) -> String {
    if rule == m.circuit {
        return format!("{what}: {rule}");
    }
    format!("{what}: {rule} on {}", m.circuit)
}

/// "a", "a and b", "a, b and c".
pub fn listing(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// The line under the title: seeds and integration settings.
pub fn subtitle(m: &Manifest) -> String {
    // The manifest lists one seed per instance; rules share seeds, so show each once.
    let mut unique: Vec<u64> = Vec::new();
    for s in &m.seeds {
        if !unique.contains(s) {
            unique.push(*s);
        }
    }
    let seeds: Vec<String> = unique.iter().map(|s| s.to_string()).collect();
    let per_rule = if m.rules.len() > 1 {
        " for every rule"
    } else {
        ""
    };
    let s = format!(
        "{} {}{per_rule}",
        if unique.len() == 1 { "seed" } else { "seeds" },
        seeds.join(", ")
    );
    with_integration(s, m)
}

/// The line under the title of a figure that shows one instance: which
/// one it is, since the file may be named after its label only.
pub fn instance_subtitle(m: &Manifest, inst: &Instance) -> String {
    let who = if inst.label == inst.rule {
        format!("rule {}", inst.rule)
    } else {
        format!("{} (rule {})", inst.label, inst.rule)
    };
    let s = format!("{who} · seed {}", inst.seed);
    with_integration(s, m)
}

fn with_integration(mut s: String, m: &Manifest) -> String {
    if let Some(dt) = m.dt_s {
        s.push_str(&format!(" · dt = {}", crate::spec::Time::from_seconds(dt)));
    }
    if let Some(method) = &m.method {
        s.push_str(&format!(" · {}", method.replace('_', " ")));
    }
    s
}

/// A file-name-safe version of an instance id.
pub fn file_safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Unicode subscripts the embedded font has (U+2080–U+209C, U+1D62–U+1D65, U+2C7C).
const SUBSCRIPTS: [(char, char); 29] = [
    ('0', '₀'),
    ('1', '₁'),
    ('2', '₂'),
    ('3', '₃'),
    ('4', '₄'),
    ('5', '₅'),
    ('6', '₆'),
    ('7', '₇'),
    ('8', '₈'),
    ('9', '₉'),
    ('a', 'ₐ'),
    ('e', 'ₑ'),
    ('o', 'ₒ'),
    ('x', 'ₓ'),
    ('h', 'ₕ'),
    ('k', 'ₖ'),
    ('l', 'ₗ'),
    ('m', 'ₘ'),
    ('n', 'ₙ'),
    ('p', 'ₚ'),
    ('s', 'ₛ'),
    ('t', 'ₜ'),
    ('i', 'ᵢ'),
    ('r', 'ᵣ'),
    ('u', 'ᵤ'),
    ('v', 'ᵥ'),
    ('j', 'ⱼ'),
    ('+', '₊'),
    ('-', '₋'),
];

/// A name with its subscripts written as subscripts: `B_h` → "Bₕ", `W_12` → "W₁₂", `m_x` →
/// "mₓ". Where the font has no subscript for a letter (there is none for b, c, d, f, g, q, w,
/// y, z in Unicode), the subscript is kept as `_{…}` markup, which [`rich_segments`] turns
/// into smaller lowered text wherever the figures draw text themselves: `τ_w` → "τ_{w}".
/// Only names go through here (projections, populations, parameters, θ terms), never rule
/// labels or file names, where an underscore is part of the word (`anti_hebbian`).
pub fn subscripts(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let after_name = i > 0 && chars[i - 1].is_alphanumeric();
        if c != '_' || !after_name {
            out.push(c);
            i += 1;
            continue;
        }
        // `_{…}` or a run of letters and digits.
        let (sub, next): (String, usize) = if chars.get(i + 1) == Some(&'{') {
            match chars[i + 2..].iter().position(|c| *c == '}') {
                Some(k) => (chars[i + 2..i + 2 + k].iter().collect(), i + 3 + k),
                None => (String::new(), i + 1),
            }
        } else {
            let k = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count();
            (chars[i + 1..i + 1 + k].iter().collect(), i + 1 + k)
        };
        if sub.is_empty() {
            out.push(c);
            i += 1;
            continue;
        }
        let unicode: Option<String> = sub
            .chars()
            .map(|c| SUBSCRIPTS.iter().find(|(a, _)| *a == c).map(|(_, b)| *b))
            .collect();
        match unicode {
            Some(u) => out.push_str(&u),
            None => out.push_str(&format!("_{{{sub}}}")),
        }
        i = next;
    }
    out
}

/// Splits text with `_{…}` markup (from [`subscripts`]) into (text, is_subscript) runs.
pub fn rich_segments(s: &str) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("_{") {
        let Some(len) = rest[start + 2..].find('}') else {
            break;
        };
        if start > 0 {
            out.push((rest[..start].to_string(), false));
        }
        out.push((rest[start + 2..start + 2 + len].to_string(), true));
        rest = &rest[start + 3 + len..];
    }
    if !rest.is_empty() {
        out.push((rest.to_string(), false));
    }
    out
}

#[cfg_attr(not(test), allow(dead_code))]
/// The text of `s` as a reader sees it: subscript markup dropped ("τ_{w}" → "τw"). For
/// places plotters draws text itself (tick labels) and for tests.
pub fn plain(s: &str) -> String {
    rich_segments(s).into_iter().map(|(t, _)| t).collect()
}

/// A swept parameter or ratio in words with its symbol and unit: `tau_w/T` → "plasticity
/// timescale / stimulus duration, τ_{w}/T"; `tau_decay_s` → "weight decay time τ_{decay} (s)".
/// Names it does not know keep their own spelling, subscripts rendered.
pub fn parameter_label(column: &str) -> String {
    const KNOWN: [(&str, &str, &str); 13] = [
        ("tau_w", "plasticity timescale", "τ_w"),
        ("tau_decay", "weight decay time", "τ_decay"),
        ("tau", "time constant", "τ"),
        ("error_delay", "error delay", "Δ"),
        ("weight_noise", "weight noise", "σ_w"),
        ("noise", "noise", "σ"),
        ("T", "stimulus duration", "T"),
        ("duration", "duration", "T_run"),
        ("gap", "gap between stimuli", "T_gap"),
        ("dt", "time step", "dt"),
        ("input_std", "input s.d.", "σ_x"),
        ("feedback_init", "feedback scale", "B₀"),
        // The default name of a `rule_draws` axis: its values number random rules.
        ("rule_draw", "random rule", "(draw number)"),
    ];
    let (stem, unit) = match column.strip_suffix("_s") {
        Some(stem) => (stem, " (s)"),
        None => (column, ""),
    };
    // A path's last part names the parameter (`populations.h.tau` → tau of h).
    let leaf = stem.rsplit('.').next().unwrap_or(stem);
    let lookup = |name: &str| KNOWN.iter().find(|(k, _, _)| *k == name);
    if let Some((num, den)) = leaf.split_once('/')
        && let (Some(a), Some(b)) = (lookup(num), lookup(den))
    {
        return subscripts(&format!("{} / {}, {}/{}", a.1, b.1, a.2, b.2));
    }
    // `populations.h.tau` is the time constant of h.
    let parts: Vec<&str> = stem.split('.').collect();
    let owner = match parts.as_slice() {
        [.., owner, _] if parts.len() >= 3 => format!(" of {owner}"),
        _ => String::new(),
    };
    match lookup(leaf) {
        Some((_, words, symbol)) => subscripts(&format!("{words}{owner} {symbol}{unit}")),
        None => subscripts(&format!("{}{unit}", stem.replace('.', " "))),
    }
}
