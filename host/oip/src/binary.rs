//! Triton's binary tensor data extension, the byte side: a body is the JSON object followed by the tensors'
//! raw bytes, and the `Inference-Header-Content-Length` header says where the JSON ends. Numeric elements
//! are little-endian, row-major, without padding (a BOOL is one byte, 0 or 1); a `BYTES` element is a
//! 4-byte little-endian length followed by that many bytes.

use crate::OipError;
use edge_infer_nn::{ElementType, Tensor};

/// The header that gives the length of the JSON part of a body that carries binary tensor data.
pub const INFERENCE_HEADER_CONTENT_LENGTH: &str = "inference-header-content-length";

/// Splits a request body into its JSON and its binary tensor data, given the
/// `Inference-Header-Content-Length` header's value if the request had one.
pub fn split_body<'a>(body: &'a [u8], header: Option<&str>) -> Result<(&'a [u8], &'a [u8]), OipError> {
    let Some(value) = header else {
        return Ok((body, &[]));
    };
    let length = value.trim().parse::<usize>().map_err(|_| {
        OipError::bad_request(format!(
            "the Inference-Header-Content-Length header must be the JSON's length in bytes, got \"{value}\""
        ))
    })?;
    if length > body.len() {
        return Err(OipError::bad_request(format!(
            "the Inference-Header-Content-Length header says the JSON is {length} bytes, but the body has only {}",
            body.len()
        )));
    }
    Ok(body.split_at(length))
}

/// The binary data after the JSON, consumed input by input in the order of the JSON's `inputs`.
pub(crate) struct BinaryCursor<'a> {
    rest: &'a [u8],
    had_header: bool,
}

impl<'a> BinaryCursor<'a> {
    pub(crate) fn new(rest: &'a [u8], had_header: bool) -> Self {
        Self { rest, had_header }
    }

    /// The next `size` bytes, for input `input`.
    pub(crate) fn take(&mut self, input: &str, size: u64) -> Result<&'a [u8], OipError> {
        if !self.had_header {
            return Err(OipError::bad_request(format!(
                "input \"{input}\" has a binary_data_size parameter, but the request has no \
                 Inference-Header-Content-Length header to say where the JSON ends and the binary data begins"
            )));
        }
        let available = self.rest.len();
        let size = usize::try_from(size).ok().filter(|&s| s <= available).ok_or_else(|| {
            OipError::bad_request(format!(
                "input \"{input}\": binary_data_size is {size} bytes, but only {available} bytes of binary data \
                 remain after the JSON and the inputs before it"
            ))
        })?;
        let (taken, rest) = self.rest.split_at(size);
        self.rest = rest;
        Ok(taken)
    }

    /// Checks that every byte was claimed by some input.
    pub(crate) fn finish(self) -> Result<(), OipError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(OipError::bad_request(format!(
                "{} bytes of binary data follow the JSON beyond what the inputs' binary_data_size parameters \
                 claim (check Inference-Header-Content-Length and each binary_data_size)",
                self.rest.len()
            )))
        }
    }
}

/// A tensor from an input's binary data.
pub(crate) fn tensor_from_binary(
    input: &str,
    ty: ElementType,
    shape: Vec<usize>,
    count: usize,
    bytes: &[u8],
) -> Result<Tensor, OipError> {
    let datatype = crate::datatype_name(ty);
    let Some(size) = ty.size() else {
        let strings = decode_bytes_elements(input, bytes, count)?;
        return Tensor::from_strings(shape, strings)
            .map_err(|e| OipError::bad_request(format!("input \"{input}\": {}", e.message)));
    };
    let expected = count.checked_mul(size);
    if expected != Some(bytes.len()) {
        return Err(OipError::bad_request(format!(
            "input \"{input}\": a {datatype} tensor of shape {} needs {} bytes of binary data ({count} elements of \
             {size} bytes), but binary_data_size is {}",
            crate::decode::shape_text(&shape),
            expected.map_or_else(|| "more than addressable".to_string(), |n| n.to_string()),
            bytes.len()
        )));
    }
    if ty == ElementType::Bool
        && let Some(i) = bytes.iter().position(|&b| b > 1)
    {
        return Err(OipError::bad_request(format!(
            "input \"{input}\": BOOL element {i} is the byte {}, expected 0 or 1",
            bytes[i]
        )));
    }
    Tensor::from_bytes(ty, shape, bytes).map_err(|e| OipError::bad_request(format!("input \"{input}\": {}", e.message)))
}

/// `count` length-prefixed `BYTES` elements filling `bytes` exactly; each must be UTF-8 text.
fn decode_bytes_elements(input: &str, mut bytes: &[u8], count: usize) -> Result<Vec<String>, OipError> {
    let bad = |m: String| OipError::bad_request(format!("input \"{input}\": {m}"));
    // Every element takes at least its 4-byte length: a count beyond that cannot fit.
    let mut strings = Vec::with_capacity(count.min(bytes.len() / 4));
    for i in 0..count {
        let Some((length, rest)) = bytes.split_first_chunk::<4>() else {
            return Err(bad(format!(
                "the binary data holds {i} BYTES elements, but the shape needs {count} (each element is a 4-byte \
                 little-endian length and its bytes)"
            )));
        };
        let length = u32::from_le_bytes(*length) as usize;
        if length > rest.len() {
            return Err(bad(format!(
                "BYTES element {i} claims {length} bytes, but only {} bytes of its binary data remain",
                rest.len()
            )));
        }
        let (element, rest) = rest.split_at(length);
        let text = std::str::from_utf8(element)
            .map_err(|_| bad(format!("BYTES element {i} is not UTF-8 text (this node's BYTES tensors hold text)")))?;
        strings.push(text.to_string());
        bytes = rest;
    }
    if !bytes.is_empty() {
        return Err(bad(format!(
            "{} bytes of binary data are left after the {count} BYTES elements the shape needs",
            bytes.len()
        )));
    }
    Ok(strings)
}

/// The binary data of a tensor: its little-endian bytes, or length-prefixed `BYTES` elements.
pub(crate) fn tensor_to_binary(tensor: &Tensor) -> Vec<u8> {
    if let Some(bytes) = tensor.bytes() {
        return bytes.to_vec();
    }
    let strings = tensor.strings().unwrap_or_default();
    let mut out = Vec::with_capacity(strings.iter().map(|s| 4 + s.len()).sum());
    for s in strings {
        // A tensor element cannot reach 4 GiB through a body limit; saturate rather than wrap if it ever did.
        out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(s.as_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_header_splits_json_from_binary() {
        let body = b"{\"a\":1}\x01\x02";
        assert_eq!(split_body(body, Some("7")).unwrap(), (&body[..7], &body[7..]));
        assert_eq!(split_body(body, None).unwrap(), (&body[..], &[][..]));
        assert!(split_body(body, Some("10")).unwrap_err().message.contains("the body has only 9"));
        assert!(split_body(body, Some("-1")).unwrap_err().message.contains("got \"-1\""));
    }

    #[test]
    fn the_cursor_hands_out_bytes_in_order_and_refuses_leftovers() {
        let mut cursor = BinaryCursor::new(&[1, 2, 3, 4, 5], true);
        assert_eq!(cursor.take("a", 2).unwrap(), &[1, 2]);
        let err = cursor.take("b", 4).unwrap_err();
        assert!(err.message.contains("input \"b\": binary_data_size is 4 bytes, but only 3"), "{}", err.message);
        assert_eq!(cursor.take("b", 2).unwrap(), &[3, 4]);
        assert!(cursor.finish().unwrap_err().message.starts_with("1 bytes of binary data follow"));
        let err = BinaryCursor::new(&[], false).take("x", 0).unwrap_err();
        assert!(err.message.contains("no Inference-Header-Content-Length"), "{}", err.message);
    }

    #[test]
    fn numeric_binary_must_match_the_shape_exactly() {
        let t = tensor_from_binary("x", ElementType::U32, vec![2, 2], 4, &[0; 16]).unwrap();
        assert_eq!(t.shape(), &[2, 2]);
        let err = tensor_from_binary("x", ElementType::U32, vec![2, 2], 4, &[0; 15]).unwrap_err();
        assert_eq!(
            err.message,
            "input \"x\": a UINT32 tensor of shape [2, 2] needs 16 bytes of binary data (4 elements of 4 bytes), \
             but binary_data_size is 15"
        );
        let err = tensor_from_binary("x", ElementType::Bool, vec![2], 2, &[1, 2]).unwrap_err();
        assert!(err.message.contains("BOOL element 1 is the byte 2"), "{}", err.message);
    }

    #[test]
    fn bytes_elements_round_trip_and_malformed_ones_are_named() {
        let t = Tensor::from_strings(vec![3], vec!["a".into(), "".into(), "héllo".into()]).unwrap();
        let bin = tensor_to_binary(&t);
        assert_eq!(&bin[..5], &[1, 0, 0, 0, b'a']);
        let back = tensor_from_binary("s", ElementType::String, vec![3], 3, &bin).unwrap();
        assert_eq!(back, t);
        let err = tensor_from_binary("s", ElementType::String, vec![4], 4, &bin).unwrap_err();
        assert!(err.message.contains("holds 3 BYTES elements, but the shape needs 4"), "{}", err.message);
        let err = tensor_from_binary("s", ElementType::String, vec![1], 1, &[9, 0, 0, 0, b'a']).unwrap_err();
        assert!(err.message.contains("element 0 claims 9 bytes, but only 1"), "{}", err.message);
        let err = tensor_from_binary("s", ElementType::String, vec![1], 1, &[1, 0, 0, 0, 0xff]).unwrap_err();
        assert!(err.message.contains("not UTF-8"), "{}", err.message);
        let err = tensor_from_binary("s", ElementType::String, vec![1], 1, &[0, 0, 0, 0, 7]).unwrap_err();
        assert!(err.message.contains("1 bytes of binary data are left"), "{}", err.message);
    }

    #[test]
    fn a_huge_count_with_little_data_does_not_allocate_it() {
        let err = tensor_from_binary("s", ElementType::String, vec![usize::MAX], usize::MAX, &[]).unwrap_err();
        assert!(err.message.contains("holds 0 BYTES elements"), "{}", err.message);
    }
}
