//! Random valid circuits validate and round-trip through YAML and through `expand`.
//!
//! A circuit is a chain input → 1–3 hidden layers → output with random sizes, activations,
//! time constants, delays and a learning rule with the fields that rule needs. Each case is
//! written to a file, read back, checked, expanded, and the expansion read back again.

use hetsim::activation::Activation;
use hetsim::spec::{
    CircuitSpec, Init, LearningSpec, Measure, Method, PopulationSpec, ProjectionSpec, RecordSpec,
    Role, RuleName, StimulusSpec, TaskKindName, TaskSpec, Time, TimeSpec,
};
use indexmap::IndexMap;
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct Layer {
    size: usize,
    activation: Activation,
    tau_ms: f64,
    delay_ms: f64,
    init: Init,
    noise: f64,
    bias: f64,
}

fn activation() -> impl Strategy<Value = Activation> {
    prop_oneof![
        Just(Activation::Linear),
        Just(Activation::Tanh),
        Just(Activation::Relu),
        Just(Activation::Sigmoid),
        Just(Activation::Softplus),
    ]
}

fn init() -> impl Strategy<Value = Init> {
    prop_oneof![
        Just(Init::Zeros),
        (-1.0f64..0.0, 0.0f64..1.0).prop_map(|(low, high)| Init::Uniform([low, high])),
        (-0.5f64..0.5, 0.0f64..0.5).prop_map(|(mean, std)| Init::Normal([mean, std])),
        (-1.0f64..1.0).prop_map(Init::Constant),
    ]
}

fn layer() -> impl Strategy<Value = Layer> {
    (
        1usize..=12,
        activation(),
        // 0 = instantaneous; every other τ is at least the largest dt below.
        prop::sample::select(vec![0.0, 0.5, 1.0, 2.0, 5.0, 20.0]),
        prop::sample::select(vec![0.0, 0.0, 1.0, 2.5]),
        init(),
        prop::sample::select(vec![0.0, 0.1]),
        prop::sample::select(vec![0.0, 0.5]),
    )
        .prop_map(
            |(size, activation, tau_ms, delay_ms, init, noise, bias)| Layer {
                size,
                activation,
                tau_ms,
                delay_ms,
                init,
                noise,
                bias,
            },
        )
}

#[derive(Clone, Debug)]
struct Shape {
    inputs: usize,
    hidden: Vec<Layer>,
    output: Layer,
    rule: RuleName,
    method: Method,
    dt_ms: f64,
    task: u8,
    tau_w_ms: f64,
    tau_decay_ms: Option<f64>,
    weight_noise: f64,
    feedback_init: Option<Init>,
    /// Which forward projections learn (`None`: all of them).
    plastic_mask: Option<Vec<bool>>,
    stimulus_ms: (f64, f64, f64),
    measures: Vec<Measure>,
}

fn shape() -> impl Strategy<Value = Shape> {
    let rule = prop::sample::select(vec![
        RuleName::Sgd,
        RuleName::Fa,
        RuleName::Dfa,
        RuleName::Kp,
        RuleName::Hebbian,
        RuleName::AntiHebbian,
        RuleName::Oja,
    ]);
    let method = prop::sample::select(vec![Method::Euler, Method::ExponentialEuler, Method::Rk4]);
    let measures = prop::sample::subsequence(
        vec![
            Measure::Loss,
            Measure::Accuracy,
            Measure::GradientAlignment,
            Measure::LossAlignment,
            Measure::WeightAlignment,
            Measure::HebbianSignature,
            Measure::LearningStrength,
        ],
        0..=3,
    );
    (
        (
            1usize..=12,
            prop::collection::vec(layer(), 1..=3),
            layer(),
            rule,
            method,
        ),
        (
            prop::sample::select(vec![0.1, 0.2, 0.5]),
            0u8..3,
            prop::sample::select(vec![20.0, 500.0, 2000.0, 60000.0]),
            prop::option::of(prop::sample::select(vec![1000.0, 5000.0, 60000.0])),
            prop::sample::select(vec![0.0, 0.01]),
            prop::option::of(init()),
            prop::option::of(prop::collection::vec(any::<bool>(), 4)),
            (
                prop::sample::select(vec![10.0, 20.0, 50.0]),
                prop::sample::select(vec![0.0, 5.0]),
                prop::sample::select(vec![0.0, 3.0]),
            ),
            measures,
        ),
    )
        .prop_map(
            |(
                (inputs, hidden, output, rule, method),
                (
                    dt_ms,
                    task,
                    tau_w_ms,
                    tau_decay_ms,
                    weight_noise,
                    feedback_init,
                    plastic_mask,
                    stimulus_ms,
                    measures,
                ),
            )| Shape {
                inputs,
                hidden,
                output,
                rule,
                method,
                dt_ms,
                task,
                tau_w_ms,
                // Kolen–Pollack needs decay; the other rules may have it.
                tau_decay_ms: if rule == RuleName::Kp {
                    tau_decay_ms.or(Some(60000.0))
                } else {
                    tau_decay_ms
                },
                weight_noise,
                feedback_init,
                plastic_mask,
                stimulus_ms,
                measures,
            },
        )
}

fn population(layer: &Layer) -> PopulationSpec {
    PopulationSpec {
        role: Role::Rate,
        size: layer.size,
        tau: Some(Time::from_ms(layer.tau_ms)),
        activation: layer.activation,
        bias: layer.bias,
        noise: layer.noise,
        gain_from: None,
        compartment_of: None,
        trace: None,
    }
}

fn circuit(s: &Shape) -> CircuitSpec {
    let mut populations = IndexMap::new();
    populations.insert(
        "x".to_string(),
        PopulationSpec {
            role: Role::Input,
            size: s.inputs,
            tau: None,
            activation: Activation::Linear,
            bias: 0.0,
            noise: 0.0,
            gain_from: None,
            compartment_of: None,
            trace: None,
        },
    );
    let mut names = vec!["x".to_string()];
    let mut layers: Vec<&Layer> = s.hidden.iter().collect();
    layers.push(&s.output);
    for (i, layer) in layers.iter().enumerate() {
        let name = if i + 1 == layers.len() {
            "y".to_string()
        } else {
            format!("h{}", i + 1)
        };
        populations.insert(name.clone(), population(layer));
        names.push(name);
    }
    let mut projections = IndexMap::new();
    let mut forward = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        let name = format!("W{}", i + 1);
        projections.insert(
            name.clone(),
            ProjectionSpec {
                from: names[i].clone(),
                to: names[i + 1].clone(),
                init: layer.init.clone(),
                sign: 1.0,
                delay: Time::from_ms(layer.delay_ms),
                tied: None,
                stands_for: None,
                connectivity: Default::default(),
            },
        );
        forward.push(name);
    }
    let plastic = s.plastic_mask.as_ref().and_then(|mask| {
        let chosen: Vec<String> = forward
            .iter()
            .zip(mask)
            .filter(|(_, keep)| **keep)
            .map(|(n, _)| n.clone())
            .collect();
        (!chosen.is_empty()).then_some(chosen)
    });
    let error_driven = s.rule.is_error_driven();
    // A Gaussian mixture needs at least two classes, one per output unit when there is an
    // output error.
    let task = match s.task {
        2 if !error_driven || s.output.size >= 2 => TaskKindName::GaussianMixture,
        1 => TaskKindName::TanhTeacher,
        _ => TaskKindName::LinearTeacher,
    };
    let (duration, gap, error_delay) = s.stimulus_ms;
    CircuitSpec {
        name: "random".into(),
        description: Some(format!("{} hidden layer(s)", s.hidden.len())),
        time: TimeSpec {
            dt: Time::from_ms(s.dt_ms),
            duration: Time::from_seconds(1.0),
            method: s.method,
        },
        task: TaskSpec {
            kind: task,
            teacher: (task == TaskKindName::LinearTeacher).then_some(Init::Uniform([-1.0, 1.0])),
            hidden: (task == TaskKindName::TanhTeacher).then_some(s.inputs.max(2)),
            classes: None,
            separation: (task == TaskKindName::GaussianMixture).then_some(3.0),
            path: None,
            inputs: None,
            classification: None,
            input_std: Some(0.5),
            stimulus: StimulusSpec {
                duration: Time::from_ms(duration),
                gap: Time::from_ms(gap),
                error_delay: Time::from_ms(error_delay),
            },
            held_out: 20,
        },
        populations,
        projections,
        motifs: Vec::new(),
        learning: Some(LearningSpec {
            rule: s.rule,
            output: error_driven.then(|| "y".to_string()),
            feedback_init: if matches!(s.rule, RuleName::Fa | RuleName::Dfa | RuleName::Kp) {
                s.feedback_init.clone()
            } else {
                None
            },
            tau_w: Time::from_ms(s.tau_w_ms),
            tau_decay: s.tau_decay_ms.map(Time::from_ms),
            tau_trace: None,
            tau_error: None,
            tau_cross: None,
            feedback_connectivity: None,
            // RK4 does not integrate weight noise and refuses it (tests/bad_inputs/rk4_weight_noise.yaml).
            weight_noise: if s.method == Method::Rk4 {
                0.0
            } else {
                s.weight_noise
            },
            plastic,
        }),
        protocol: Vec::new(),
        record: RecordSpec {
            every: Time::from_ms(100.0),
            measure: s.measures.clone(),
            traces: Time::default(),
            probes: Vec::new(),
            weights: None,
            plasticity_curve: None,
            checkpoints: None,
        },
        overrides: Vec::new(),
    }
}

fn load(path: &std::path::Path) -> hetsim::circuit::Circuit {
    match hetsim::circuit::load(path) {
        Ok((_, c)) => c,
        Err(d) => panic!(
            "{d}\n--- file ---\n{}",
            std::fs::read_to_string(path).unwrap_or_default()
        ),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_circuits_validate_and_round_trip(s in shape()) {
        let dir = tempfile::tempdir().unwrap();
        let spec = circuit(&s);

        // The spec survives being written and read back.
        let file = dir.path().join("circuit.yaml");
        std::fs::write(&file, hetsim::spec::to_yaml(&spec)).unwrap();
        let (_, read) = hetsim::spec::load_circuit(&file).expect("written spec parses");
        prop_assert_eq!(&read, &spec);

        // It validates, and the expansion is explicit.
        let circuit = load(&file);
        prop_assert!(circuit.spec.learning.is_none());
        let plastic = spec.learning.as_ref().unwrap().plastic.as_ref()
            .map_or(spec.projections.len(), |p| p.len());
        let feedback_motifs = circuit.motifs.len() - plastic;
        prop_assert!(
            feedback_motifs == 0 || s.rule == RuleName::Kp,
            "only Kolen–Pollack makes feedback plastic"
        );
        prop_assert_eq!(circuit.populations.len(), circuit.spec.populations.len());

        // expand(expand(x)) == expand(x), as text and as a spec.
        let expanded = hetsim::spec::to_yaml(&circuit.spec);
        let file2 = dir.path().join("expanded.yaml");
        std::fs::write(&file2, &expanded).unwrap();
        let again = load(&file2);
        prop_assert_eq!(&again.spec, &circuit.spec);
        prop_assert_eq!(hetsim::spec::to_yaml(&again.spec), expanded);
        prop_assert_eq!(again.summary(), circuit.summary());
    }
}
