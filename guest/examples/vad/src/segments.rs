//! Speech segments from per-window speech probabilities: a line-by-line port of silero-vad 6.2.3's
//! `get_speech_timestamps_from_probs` (`silero_vad/utils_vad.py`), the post-processing of the
//! package's `get_speech_timestamps`, so that the endpoint finds exactly the segments the package
//! finds. Sample positions are those of the 16 kHz signal the model saw, multiplied by `step` when
//! the recording was decimated from a multiple of 16 kHz.

/// The tuning knobs of `get_speech_timestamps`, with its defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Params {
    /// Probabilities at or above it are speech.
    pub(crate) threshold: f64,
    /// While in speech, probabilities below it are silence; `None`: `max(threshold - 0.15, 0.01)`.
    pub(crate) neg_threshold: Option<f64>,
    /// Segments not longer than this are dropped.
    pub(crate) min_speech_duration_ms: f64,
    /// Segments are split before they grow longer than this.
    pub(crate) max_speech_duration_s: f64,
    /// Silence shorter than this does not end a segment.
    pub(crate) min_silence_duration_ms: f64,
    /// Padding added to both ends of each segment.
    pub(crate) speech_pad_ms: f64,
    /// At a forced split, only silences longer than this are candidates.
    pub(crate) min_silence_at_max_speech_ms: f64,
    /// At a forced split, cut at the longest silence seen (else at the last one).
    pub(crate) use_max_poss_sil_at_max_speech: bool,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            threshold: 0.5,
            neg_threshold: None,
            min_speech_duration_ms: 250.0,
            max_speech_duration_s: f64::INFINITY,
            min_silence_duration_ms: 100.0,
            speech_pad_ms: 30.0,
            min_silence_at_max_speech_ms: 98.0,
            use_max_poss_sil_at_max_speech: true,
        }
    }
}

/// One stretch of speech, `[start, end)` in samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Segment {
    pub(crate) start: u64,
    pub(crate) end: u64,
}

/// The speech segments of a recording of `audio_length_samples` samples (at `sampling_rate`, after
/// decimation) given one probability per window of `window` samples.
pub(crate) fn speech_segments(
    probs: &[f32],
    params: &Params,
    sampling_rate: u32,
    window: u32,
    audio_length_samples: u64,
    step: u64,
) -> Vec<Segment> {
    let sr = f64::from(sampling_rate);
    let window_size_samples = i64::from(window);
    let audio_length_samples = audio_length_samples as i64;
    let min_speech_samples = sr * params.min_speech_duration_ms / 1000.0;
    let speech_pad_samples = sr * params.speech_pad_ms / 1000.0;
    let max_speech_samples = sr * params.max_speech_duration_s - window_size_samples as f64 - 2.0 * speech_pad_samples;
    let min_silence_samples = sr * params.min_silence_duration_ms / 1000.0;
    let min_silence_samples_at_max_speech = sr * params.min_silence_at_max_speech_ms / 1000.0;
    let threshold = params.threshold;
    let neg_threshold = params.neg_threshold.unwrap_or_else(|| (threshold - 0.15).max(0.01));

    let mut triggered = false;
    // (start, end) as the package's dicts hold them: ints until the padding below.
    let mut speeches: Vec<(i64, i64)> = Vec::new();
    let mut current_start: Option<i64> = None;
    let mut temp_end: i64 = 0;
    let mut prev_end: i64 = 0;
    let mut next_start: i64 = 0;
    let mut possible_ends: Vec<(i64, i64)> = Vec::new();

    for (i, &prob) in probs.iter().enumerate() {
        let speech_prob = f64::from(prob);
        let cur_sample = window_size_samples * i as i64;

        // Speech returns after a temp_end: remember the silence if it was long enough.
        if speech_prob >= threshold && temp_end != 0 {
            let sil_dur = cur_sample - temp_end;
            if sil_dur as f64 > min_silence_samples_at_max_speech {
                possible_ends.push((temp_end, sil_dur));
            }
            temp_end = 0;
            if next_start < prev_end {
                next_start = cur_sample;
            }
        }

        // Start of speech.
        if speech_prob >= threshold && !triggered {
            triggered = true;
            current_start = Some(cur_sample);
            continue;
        }

        // Maximum length reached: decide where to cut.
        if triggered && (cur_sample - current_start.unwrap_or(0)) as f64 > max_speech_samples {
            if params.use_max_poss_sil_at_max_speech && !possible_ends.is_empty() {
                // The longest silence; the first of equals, as Python's max() picks.
                let mut best = possible_ends[0];
                for &candidate in &possible_ends[1..] {
                    if candidate.1 > best.1 {
                        best = candidate;
                    }
                }
                let (end, dur) = best;
                prev_end = end;
                speeches.push((current_start.unwrap_or(0), prev_end));
                current_start = None;
                next_start = prev_end + dur;
                if next_start < prev_end + cur_sample {
                    current_start = Some(next_start);
                } else {
                    triggered = false;
                }
                prev_end = 0;
                next_start = 0;
                temp_end = 0;
                possible_ends.clear();
            } else if prev_end != 0 {
                speeches.push((current_start.unwrap_or(0), prev_end));
                current_start = None;
                if next_start < prev_end {
                    triggered = false;
                } else {
                    current_start = Some(next_start);
                }
                prev_end = 0;
                next_start = 0;
                temp_end = 0;
                possible_ends.clear();
            } else {
                speeches.push((current_start.unwrap_or(0), cur_sample));
                current_start = None;
                prev_end = 0;
                next_start = 0;
                temp_end = 0;
                triggered = false;
                possible_ends.clear();
                continue;
            }
        }

        // Silence while in speech.
        if speech_prob < neg_threshold && triggered {
            if temp_end == 0 {
                temp_end = cur_sample;
            }
            let sil_dur_now = cur_sample - temp_end;
            if !params.use_max_poss_sil_at_max_speech && sil_dur_now as f64 > min_silence_samples_at_max_speech {
                prev_end = temp_end;
            }
            if (sil_dur_now as f64) < min_silence_samples {
                continue;
            }
            let start = current_start.unwrap_or(0);
            if (temp_end - start) as f64 > min_speech_samples {
                speeches.push((start, temp_end));
            }
            current_start = None;
            prev_end = 0;
            next_start = 0;
            temp_end = 0;
            triggered = false;
            possible_ends.clear();
        }
    }

    if let Some(start) = current_start
        && (audio_length_samples - start) as f64 > min_speech_samples
    {
        speeches.push((start, audio_length_samples));
    }

    // Padding: `int(max(0, x - pad))` truncates a float; `silence // 2` floors an int.
    let last = speeches.len().saturating_sub(1);
    for i in 0..speeches.len() {
        if i == 0 {
            speeches[i].0 = (speeches[i].0 as f64 - speech_pad_samples).max(0.0) as i64;
        }
        if i != last {
            let silence_duration = speeches[i + 1].0 - speeches[i].1;
            if (silence_duration as f64) < 2.0 * speech_pad_samples {
                speeches[i].1 += silence_duration.div_euclid(2);
                speeches[i + 1].0 = (speeches[i + 1].0 - silence_duration.div_euclid(2)).max(0);
            } else {
                speeches[i].1 = (speeches[i].1 as f64 + speech_pad_samples).min(audio_length_samples as f64) as i64;
                speeches[i + 1].0 = (speeches[i + 1].0 as f64 - speech_pad_samples).max(0.0) as i64;
            }
        } else {
            speeches[i].1 = (speeches[i].1 as f64 + speech_pad_samples).min(audio_length_samples as f64) as i64;
        }
    }

    let step = step as i64;
    speeches
        .into_iter()
        .map(|(start, end)| Segment { start: (start * step).max(0) as u64, end: (end * step).max(0) as u64 })
        .collect()
}
