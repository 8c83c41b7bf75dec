//! WAV (RIFF/WAVE) decoding to mono `f32` samples, the way audio libraries hand them to models:
//! integer PCM scaled to [-1, 1) (`int16 / 32768`), floats as they are, channels averaged.
//!
//! Reads PCM (8-bit unsigned, 16/24/32-bit signed), IEEE float (32/64-bit) and their
//! `WAVE_FORMAT_EXTENSIBLE` forms. Streaming writers that leave the RIFF or `data` size at 0 or
//! `0xFFFFFFFF` are tolerated: the data then runs to the end of the body.

use std::fmt;

/// A decoded recording: mono samples and their rate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Audio {
    /// Frames per second.
    pub(crate) sample_rate: u32,
    /// Channels in the file (the samples are their average).
    pub(crate) channels: u16,
    /// One sample per frame.
    pub(crate) samples: Vec<f32>,
}

/// Why a body is not audio we can use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WavError {
    /// Not a WAV file, or a broken one.
    Malformed(String),
    /// A well-formed WAV in an encoding we do not decode (µ-law, ADPCM, 12-bit, …).
    Unsupported(String),
}

impl fmt::Display for WavError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WavError::Malformed(m) | WavError::Unsupported(m) => f.write_str(m),
        }
    }
}

const PCM: u16 = 1;
const IEEE_FLOAT: u16 = 3;
const EXTENSIBLE: u16 = 0xFFFE;
/// More channels than any real recording has: a header claiming more is broken.
const MAX_CHANNELS: u16 = 64;

#[derive(Debug, Clone, Copy)]
enum Encoding {
    /// Unsigned 8-bit, signed 16/24/32-bit.
    Int(u16),
    /// 32- or 64-bit IEEE float.
    Float(u16),
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Decodes a WAV body.
pub(crate) fn decode(bytes: &[u8]) -> Result<Audio, WavError> {
    let malformed = |m: &str| WavError::Malformed(m.to_owned());
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(malformed("the body is not a WAV file (no RIFF/WAVE header)"));
    }
    let mut format: Option<(Encoding, u16, u32)> = None;
    let mut pos = 12;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let declared = u32_at(bytes, pos + 4) as usize;
        let start = pos + 8;
        let rest = bytes.len() - start;
        if id == b"data" {
            let (encoding, channels, rate) =
                format.ok_or_else(|| malformed("the WAV file has its data before its `fmt ` chunk"))?;
            // A streaming writer may not know the size: 0 or 0xFFFFFFFF, or more than was sent.
            let len = if declared == 0 || declared > rest { rest } else { declared };
            return Ok(Audio {
                sample_rate: rate,
                channels,
                samples: mix(&bytes[start..start + len], encoding, channels),
            });
        }
        if declared > rest {
            return Err(WavError::Malformed(format!(
                "the WAV chunk {:?} claims {declared} bytes but only {rest} follow",
                String::from_utf8_lossy(id)
            )));
        }
        if id == b"fmt " {
            format = Some(parse_format(&bytes[start..start + declared])?);
        }
        // Chunks are padded to an even size.
        pos = start + declared + (declared & 1);
    }
    Err(malformed("the WAV file has no `data` chunk"))
}

fn parse_format(fmt: &[u8]) -> Result<(Encoding, u16, u32), WavError> {
    if fmt.len() < 16 {
        return Err(WavError::Malformed(format!("the WAV `fmt ` chunk is {} bytes, fewer than 16", fmt.len())));
    }
    let mut tag = u16_at(fmt, 0);
    let channels = u16_at(fmt, 2);
    let rate = u32_at(fmt, 4);
    let block_align = u16_at(fmt, 12);
    let bits = u16_at(fmt, 14);
    if tag == EXTENSIBLE {
        if fmt.len() < 26 {
            return Err(WavError::Malformed("the WAV `fmt ` chunk is extensible but too short".to_owned()));
        }
        // The sub-format GUID starts with the classic format tag.
        tag = u16_at(fmt, 24);
    }
    if channels == 0 || channels > MAX_CHANNELS {
        return Err(WavError::Malformed(format!("the WAV header says {channels} channels")));
    }
    if rate == 0 {
        return Err(WavError::Malformed("the WAV header says 0 samples per second".to_owned()));
    }
    let encoding = match (tag, bits) {
        (PCM, 8 | 16 | 24 | 32) => Encoding::Int(bits),
        (IEEE_FLOAT, 32 | 64) => Encoding::Float(bits),
        (PCM, _) | (IEEE_FLOAT, _) => {
            return Err(WavError::Unsupported(format!(
                "{bits}-bit {} WAV is not supported: send 8, 16, 24 or 32-bit PCM or 32/64-bit float",
                if tag == PCM { "PCM" } else { "float" }
            )));
        }
        _ => {
            return Err(WavError::Unsupported(format!(
                "WAV format tag {tag:#06x} is not supported: send PCM (1) or IEEE float (3)"
            )));
        }
    };
    if usize::from(block_align) != usize::from(channels) * usize::from(bits / 8) {
        return Err(WavError::Malformed(format!(
            "the WAV header's block size {block_align} does not match {channels} channels of {bits} bits"
        )));
    }
    Ok((encoding, channels, rate))
}

/// Decodes whole frames of `data` and averages their channels; a trailing partial frame is dropped.
fn mix(data: &[u8], encoding: Encoding, channels: u16) -> Vec<f32> {
    let (Encoding::Int(bits) | Encoding::Float(bits)) = encoding;
    let width = usize::from(bits / 8);
    let channels = usize::from(channels);
    let sample = |b: &[u8]| -> f32 {
        match encoding {
            Encoding::Int(8) => (f32::from(b[0]) - 128.0) / 128.0,
            Encoding::Int(16) => f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0,
            Encoding::Int(24) => (i32::from_le_bytes([0, b[0], b[1], b[2]]) >> 8) as f32 / 8_388_608.0,
            Encoding::Int(_) => (f64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])) / 2_147_483_648.0) as f32,
            Encoding::Float(32) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Encoding::Float(_) => f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32,
        }
    };
    data.chunks_exact(width * channels)
        .map(|frame| {
            if channels == 1 {
                return sample(frame);
            }
            let sum: f32 = frame.chunks_exact(width).map(sample).sum();
            sum / channels as f32
        })
        .collect()
}
