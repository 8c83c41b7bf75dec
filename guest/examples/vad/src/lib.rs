//! Voice activity detection: a WAV recording in, Silero VAD's speech probabilities and speech
//! segments out.
//!
//! The recording is decoded in the guest (PCM or float WAV, channels averaged), a rate that is a
//! multiple of 16 kHz is decimated to 16 kHz as silero-vad does (`audio[::step]`), and the model runs
//! once per 512-sample window: its input is the previous 64 samples followed by the 512 new ones
//! (f32 `[1,576]`), and its `state` output is fed back as the next window's `state` input. The
//! probabilities become segments with silero-vad's own `get_speech_timestamps` rules
//! ([`segments`]).
//!
//! Config keys (each also a query parameter, which wins): `model` (alias, default `model`; config
//! only), `threshold`, `neg_threshold`, `min_speech_duration_ms`, `max_speech_duration_s`,
//! `min_silence_duration_ms`, `speech_pad_ms`, and `probabilities` (`false` leaves the per-window
//! probabilities out of the answer).

mod segments;
mod wav;

use edge_infer_guest::nn::{ElementType, Model, Tensor};
use edge_infer_guest::{Request, Response, config, models};
use serde::Serialize;

use crate::segments::{Params, Segment, speech_segments};

/// The rate the model was trained for.
const MODEL_RATE: u32 = 16_000;
/// New samples per window at 16 kHz.
const WINDOW: u32 = 512;

#[derive(Serialize)]
struct SegmentOut {
    /// First sample, at the recording's own rate.
    start: u64,
    /// One past the last sample.
    end: u64,
    start_s: f64,
    end_s: f64,
}

#[derive(Serialize)]
struct Answer {
    model: String,
    sample_rate: u32,
    channels: u16,
    duration_s: f64,
    /// Seconds per probability.
    window_s: f64,
    segments: Vec<SegmentOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilities: Option<Vec<f32>>,
}

fn handle(req: Request) -> Response {
    run(&req).unwrap_or_else(|error| error)
}

fn bad_request(message: impl std::fmt::Display) -> Response {
    Response::error(400, "bad_request", message)
}

fn bad_model(message: impl std::fmt::Display) -> Response {
    Response::error(500, "bad_model", message)
}

fn run(req: &Request) -> Result<Response, Response> {
    let params = params(req)?;
    let with_probabilities = flag(req, "probabilities")?.unwrap_or(true);
    if req.body.is_empty() {
        return Err(Response::error(400, "bad_audio", "the body is empty: send a WAV recording"));
    }
    let audio = wav::decode(&req.body).map_err(|e| match e {
        wav::WavError::Malformed(m) => Response::error(400, "bad_audio", m),
        wav::WavError::Unsupported(m) => Response::error(415, "unsupported_audio", m),
    })?;
    let step = decimation(audio.sample_rate)?;
    let samples: Vec<f32> = audio.samples.iter().step_by(step as usize).copied().collect();

    let alias = config::get("model").unwrap_or_else(|| "model".to_owned());
    let model = Model::load(&alias)?;
    let io = Io::of(&alias)?;
    let probabilities = io.run(&model, &samples)?;
    let found = speech_segments(&probabilities, &params, MODEL_RATE, WINDOW, samples.len() as u64, step);

    let rate = f64::from(audio.sample_rate);
    let seconds = |s: u64| s as f64 / rate;
    let answer = Answer {
        model: alias,
        sample_rate: audio.sample_rate,
        channels: audio.channels,
        duration_s: seconds(audio.samples.len() as u64),
        window_s: f64::from(WINDOW) / f64::from(MODEL_RATE),
        segments: found
            .iter()
            .map(|&Segment { start, end }| SegmentOut { start, end, start_s: seconds(start), end_s: seconds(end) })
            .collect(),
        probabilities: with_probabilities.then_some(probabilities),
    };
    Ok(Response::json(200, &answer))
}

/// 16 kHz as it is; a multiple of it decimated as silero-vad does; anything else refused.
fn decimation(rate: u32) -> Result<u64, Response> {
    if rate == MODEL_RATE {
        Ok(1)
    } else if rate > MODEL_RATE && rate.is_multiple_of(MODEL_RATE) {
        Ok(u64::from(rate / MODEL_RATE))
    } else {
        Err(Response::error(
            415,
            "unsupported_sample_rate",
            format!(
                "the recording is {rate} Hz; Silero VAD needs 16000 Hz (or a multiple such as 32000 or 48000): \
                 resample it first (ffmpeg -ar 16000, sox -r 16000)"
            ),
        ))
    }
}

/// The model's inputs and outputs, by position: audio and state in; probability and state out.
struct Io {
    audio: String,
    state: String,
    /// Samples of context before the new ones: the audio input's width minus [`WINDOW`].
    context: usize,
    state_dims: Vec<u32>,
}

impl Io {
    fn of(alias: &str) -> Result<Io, Response> {
        let info = models::info(alias)?;
        let (Some(audio), Some(state)) = (info.inputs.first(), info.inputs.get(1)) else {
            return Err(bad_model(format!(
                "model {alias} should take audio and state inputs; it takes {}",
                info.inputs.len()
            )));
        };
        if info.outputs.len() < 2 {
            return Err(bad_model(format!("model {alias} should return a probability and a state")));
        }
        // Silero's 16 kHz model takes [1, 64 + 512]; a free width means the same.
        let width = match audio.dims.as_slice() {
            [_, Some(width)] => *width as usize,
            [_, None] => 64 + WINDOW as usize,
            other => {
                return Err(bad_model(format!(
                    "model {alias}: audio input {} has dims {other:?}, expected [1, N]",
                    audio.name
                )));
            }
        };
        let context = width
            .checked_sub(WINDOW as usize)
            .ok_or_else(|| bad_model(format!("model {alias}: audio input {} is narrower than {WINDOW}", audio.name)))?;
        let state_dims = state
            .fixed_dims()
            .and_then(|dims| dims.into_iter().map(|d| u32::try_from(d).ok()).collect::<Option<Vec<u32>>>())
            .ok_or_else(|| bad_model(format!("model {alias}: state input {} has no fixed shape", state.name)))?;
        Ok(Io { audio: audio.name.clone(), state: state.name.clone(), context, state_dims })
    }

    /// One speech probability per window, the state carried from window to window.
    fn run(&self, model: &Model, samples: &[f32]) -> Result<Vec<f32>, Response> {
        let window = WINDOW as usize;
        let width = self.context + window;
        let state_len = self.state_dims.iter().map(|&d| d as usize).product::<usize>();
        let mut state = Tensor::new(&self.state_dims, ElementType::F32, vec![0; state_len * 4]);
        let mut input = vec![0.0f32; width];
        let mut probabilities = Vec::with_capacity(samples.len().div_ceil(window));
        for chunk in samples.chunks(window) {
            // The last `context` samples of the previous input, then the new window (zero-padded).
            input.copy_within(window.., 0);
            input[self.context..self.context + chunk.len()].copy_from_slice(chunk);
            input[self.context + chunk.len()..].fill(0.0);
            let inputs =
                vec![(self.audio.clone(), Tensor::from_f32(&[1, width as u32], &input)), (self.state.clone(), state)];
            let mut outputs = model.compute(inputs)?.into_iter();
            let (Some((name, probability)), Some((_, next_state))) = (outputs.next(), outputs.next()) else {
                return Err(bad_model("the model returned fewer than two outputs"));
            };
            let probability = probability
                .to_f32()
                .and_then(|p| p.first().copied())
                .ok_or_else(|| bad_model(format!("output {name} is not an f32 probability")))?;
            probabilities.push(probability);
            state = next_state;
        }
        Ok(probabilities)
    }
}

/// `?name=` else config `name`, parsed as a number.
fn number(req: &Request, name: &str) -> Result<Option<f64>, Response> {
    let Some(value) = req.query(name).or_else(|| config::get(name)) else {
        return Ok(None);
    };
    match value.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(Some(v)),
        Ok(v) if v == f64::INFINITY => Ok(Some(v)),
        _ => Err(bad_request(format!("{name} must be a number of at least 0, got {value:?}"))),
    }
}

/// `?name=` else config `name`, as `true`/`false` (`1`/`0`).
fn flag(req: &Request, name: &str) -> Result<Option<bool>, Response> {
    let Some(value) = req.query(name).or_else(|| config::get(name)) else {
        return Ok(None);
    };
    match value.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "" => Ok(Some(true)),
        "false" | "0" | "no" => Ok(Some(false)),
        _ => Err(bad_request(format!("{name} must be true or false, got {value:?}"))),
    }
}

fn params(req: &Request) -> Result<Params, Response> {
    let mut p = Params::default();
    if let Some(v) = number(req, "threshold")? {
        p.threshold = v;
    }
    p.neg_threshold = number(req, "neg_threshold")?;
    if let Some(v) = number(req, "min_speech_duration_ms")? {
        p.min_speech_duration_ms = v;
    }
    if let Some(v) = number(req, "max_speech_duration_s")? {
        p.max_speech_duration_s = v;
    }
    if let Some(v) = number(req, "min_silence_duration_ms")? {
        p.min_silence_duration_ms = v;
    }
    if let Some(v) = number(req, "speech_pad_ms")? {
        p.speech_pad_ms = v;
    }
    if p.threshold > 1.0 || p.neg_threshold.is_some_and(|n| n > 1.0) {
        return Err(bad_request("threshold and neg_threshold are probabilities: at most 1"));
    }
    Ok(p)
}

edge_infer_guest::endpoint!(handle);

#[cfg(test)]
mod tests;
