//! WAV decoding and the segment rules, checked natively (`cargo test --target` your host triple).

use serde_json::Value;

use crate::segments::{Params, Segment, speech_segments};
use crate::wav::{WavError, decode};
use crate::{MODEL_RATE, WINDOW, decimation};

/// A WAV file with one `fmt ` chunk (of `fmt` bytes) and one `data` chunk, plus `extra` chunks
/// before the data.
fn wav(fmt: &[u8], extra: &[(&[u8; 4], &[u8])], data: &[u8]) -> Vec<u8> {
    let mut body = b"WAVE".to_vec();
    let mut chunk = |id: &[u8; 4], bytes: &[u8]| {
        body.extend_from_slice(id);
        body.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        body.extend_from_slice(bytes);
        if bytes.len() % 2 == 1 {
            body.push(0);
        }
    };
    chunk(b"fmt ", fmt);
    for (id, bytes) in extra {
        chunk(id, bytes);
    }
    chunk(b"data", data);
    let mut out = b"RIFF".to_vec();
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

fn fmt(tag: u16, channels: u16, rate: u32, bits: u16) -> Vec<u8> {
    let align = channels * bits / 8;
    let mut f = Vec::new();
    f.extend_from_slice(&tag.to_le_bytes());
    f.extend_from_slice(&channels.to_le_bytes());
    f.extend_from_slice(&rate.to_le_bytes());
    f.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
    f.extend_from_slice(&align.to_le_bytes());
    f.extend_from_slice(&bits.to_le_bytes());
    f
}

#[test]
fn pcm16_is_scaled_like_torchaudio_and_channels_are_averaged() {
    let data: Vec<u8> = [i16::MIN, 16384, -16384, 0, 32767, 32767].iter().flat_map(|s| s.to_le_bytes()).collect();
    let mono = decode(&wav(&fmt(1, 1, 16000, 16), &[(b"LIST", b"odd")], &data)).unwrap();
    assert_eq!((mono.sample_rate, mono.channels), (16000, 1));
    assert_eq!(mono.samples, vec![-1.0, 0.5, -0.5, 0.0, 32767.0 / 32768.0, 32767.0 / 32768.0]);
    let stereo = decode(&wav(&fmt(1, 2, 48000, 16), &[], &data)).unwrap();
    assert_eq!(stereo.samples, vec![-0.25, -0.25, 32767.0 / 32768.0]);
}

#[test]
fn every_supported_encoding_decodes() {
    let u8s = decode(&wav(&fmt(1, 1, 8000, 8), &[], &[0, 128, 192])).unwrap();
    assert_eq!(u8s.samples, vec![-1.0, 0.0, 0.5]);
    let i24: Vec<u8> = vec![0x00, 0x00, 0x80, 0x00, 0x00, 0x40];
    assert_eq!(decode(&wav(&fmt(1, 1, 16000, 24), &[], &i24)).unwrap().samples, vec![-1.0, 0.5]);
    let i32s: Vec<u8> = [i32::MIN, 1 << 30].iter().flat_map(|s| s.to_le_bytes()).collect();
    assert_eq!(decode(&wav(&fmt(1, 1, 16000, 32), &[], &i32s)).unwrap().samples, vec![-1.0, 0.5]);
    let f32s: Vec<u8> = [0.25f32, -0.75].iter().flat_map(|s| s.to_le_bytes()).collect();
    assert_eq!(
        decode(&wav(&fmt(3, 1, 16000, 32), &[(b"fact", &[2, 0, 0, 0])], &f32s)).unwrap().samples,
        vec![0.25, -0.75]
    );
    let f64s: Vec<u8> = [0.25f64, -0.75].iter().flat_map(|s| s.to_le_bytes()).collect();
    assert_eq!(decode(&wav(&fmt(3, 1, 16000, 64), &[], &f64s)).unwrap().samples, vec![0.25, -0.75]);
    // WAVE_FORMAT_EXTENSIBLE: cbSize 22, valid bits, channel mask, then the sub-format GUID.
    let mut ext = fmt(0xFFFE, 1, 16000, 16);
    ext.extend_from_slice(&22u16.to_le_bytes());
    ext.extend_from_slice(&16u16.to_le_bytes());
    ext.extend_from_slice(&4u32.to_le_bytes());
    ext.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0x10, 0, 0x80, 0, 0, 0xAA, 0, 0x38, 0x9B, 0x71]);
    assert_eq!(decode(&wav(&ext, &[], &[0, 64])).unwrap().samples, vec![0.5]);
}

#[test]
fn a_streamed_size_and_a_partial_frame_are_tolerated() {
    let data: Vec<u8> = [100i16, 200, 300].iter().flat_map(|s| s.to_le_bytes()).collect();
    let mut file = wav(&fmt(1, 2, 16000, 16), &[], &data);
    let data_size_at = file.len() - data.len() - 4;
    file[data_size_at..data_size_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(decode(&file).unwrap().samples, vec![150.0 / 32768.0]);
}

#[test]
fn bad_and_unsupported_files_say_why() {
    let malformed = |bytes: &[u8]| matches!(decode(bytes), Err(WavError::Malformed(_)));
    let unsupported = |bytes: &[u8]| matches!(decode(bytes), Err(WavError::Unsupported(_)));
    assert!(malformed(b""));
    assert!(malformed(b"ID3\x03 an mp3, not a wav"));
    assert!(malformed(b"RIFF\x04\0\0\0WAVE"));
    assert!(malformed(&wav(&fmt(1, 1, 16000, 16)[..12], &[], &[0, 0])));
    assert!(malformed(&wav(&fmt(1, 0, 16000, 16), &[], &[])));
    assert!(malformed(&wav(&fmt(1, 1, 0, 16), &[], &[])));
    let mut bad_align = fmt(1, 2, 16000, 16);
    bad_align[12] = 3;
    assert!(malformed(&wav(&bad_align, &[], &[])));
    // Data before fmt.
    let mut early = b"RIFF\x14\0\0\0WAVEdata\x02\0\0\0\0\0".to_vec();
    early.extend_from_slice(&wav(&fmt(1, 1, 16000, 16), &[], &[])[12..]);
    assert!(malformed(&early));
    assert!(unsupported(&wav(&fmt(7, 1, 8000, 8), &[], &[0])), "µ-law");
    assert!(unsupported(&wav(&fmt(1, 1, 16000, 12), &[], &[0])));
    assert!(unsupported(&wav(&fmt(3, 1, 16000, 16), &[], &[0, 0])));
    let message = decode(&wav(&fmt(7, 1, 8000, 8), &[], &[0])).unwrap_err().to_string();
    assert!(message.contains("0x0007"), "{message}");
}

#[test]
fn rates_are_decimated_like_silero_or_refused() {
    assert_eq!(decimation(16000).unwrap(), 1);
    assert_eq!(decimation(32000).unwrap(), 2);
    assert_eq!(decimation(48000).unwrap(), 3);
    for rate in [8000, 22050, 44100, 24000] {
        let refused = decimation(rate).unwrap_err();
        assert_eq!(refused.status, 415);
        assert!(String::from_utf8_lossy(&refused.body).contains(&rate.to_string()));
    }
}

/// The cases `tests/reference/vad_segment_cases.py` answered with the package's own code.
#[test]
fn segments_match_silero_vads_own_rules() {
    let cases: Vec<Value> = serde_json::from_str(include_str!("segment_cases.json")).unwrap();
    assert!(cases.len() >= 5);
    for (i, case) in cases.iter().enumerate() {
        let probs: Vec<f32> =
            case["probabilities"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap() as f32).collect();
        let mut params = Params::default();
        for (key, value) in case["params"].as_object().unwrap() {
            match key.as_str() {
                "threshold" => params.threshold = value.as_f64().unwrap(),
                "neg_threshold" => params.neg_threshold = value.as_f64(),
                "min_speech_duration_ms" => params.min_speech_duration_ms = value.as_f64().unwrap(),
                "max_speech_duration_s" => params.max_speech_duration_s = value.as_f64().unwrap(),
                "min_silence_duration_ms" => params.min_silence_duration_ms = value.as_f64().unwrap(),
                "speech_pad_ms" => params.speech_pad_ms = value.as_f64().unwrap(),
                "use_max_poss_sil_at_max_speech" => params.use_max_poss_sil_at_max_speech = value.as_bool().unwrap(),
                other => panic!("case {i}: unknown parameter {other}"),
            }
        }
        let want: Vec<Segment> = case["segments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| Segment { start: s[0].as_u64().unwrap(), end: s[1].as_u64().unwrap() })
            .collect();
        let got = speech_segments(
            &probs,
            &params,
            MODEL_RATE,
            WINDOW,
            case["audio_length_samples"].as_u64().unwrap(),
            case["step"].as_u64().unwrap(),
        );
        assert_eq!(got, want, "case {i}: {}", case["params"]);
    }
}

#[test]
fn no_speech_no_segments() {
    assert!(speech_segments(&[0.01; 50], &Params::default(), MODEL_RATE, WINDOW, 50 * 512, 1).is_empty());
    assert!(speech_segments(&[], &Params::default(), MODEL_RATE, WINDOW, 0, 1).is_empty());
    // Speech to the very end: the segment ends with the recording.
    let got = speech_segments(&[0.9; 20], &Params::default(), MODEL_RATE, WINDOW, 20 * 512 - 7, 1);
    assert_eq!(got, vec![Segment { start: 0, end: 20 * 512 - 7 }]);
}
