//! Where a tensor's elements live: one aligned buffer, allocated the way tract allocates its own tensors.
//!
//! A guest's input is copied once, from guest memory into this buffer (the wasi:nn host's tensor
//! constructor), and should not be copied again on its way to a backend. tract, the backend every build has,
//! runs only on tensors that it allocated itself, so the buffer *is* a tract tensor: its bytes, flat. The
//! tract backend takes it as its input as it is, and hands its outputs back the same way. Other backends
//! read the bytes in place (ONNX Runtime takes a typed view of them; the buffer is aligned for every element
//! type) or copy them into tensors of their own (OpenVINO).
//!
//! This is the only place besides the tract backend that names tract: the buffer is an implementation
//! detail behind [`Elements::as_bytes`].

use tract_onnx::prelude::{DatumType, Tensor as TractTensor};

/// A tensor's elements as little-endian bytes in row-major order, in an aligned buffer.
pub struct Elements(TractTensor);

/// The buffer's alignment: a cache line, and enough for every element type and SIMD width.
const ALIGN: usize = 64;

impl Elements {
    /// `bytes`, copied once into a new aligned buffer.
    pub fn copied_from(bytes: &[u8]) -> Self {
        let buffer =
            TractTensor::from_shape_align::<u8>(&[bytes.len()], bytes, ALIGN).expect("a flat shape matches its bytes");
        Self(buffer)
    }

    /// `parts`, one after another, copied once into a new aligned buffer.
    pub fn concatenated<'a>(parts: impl Iterator<Item = &'a [u8]> + Clone) -> Self {
        let len = parts.clone().map(<[u8]>::len).sum();
        let mut buffer = TractTensor::zero_aligned_dt(DatumType::U8, &[len], ALIGN).expect("a flat byte buffer");
        let mut offset = 0;
        for part in parts {
            buffer.as_bytes_mut()[offset..offset + part.len()].copy_from_slice(part);
            offset += part.len();
        }
        Self(buffer)
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The buffer as tract's tensor of `dt` and `shape`, without a copy. The caller has checked that the byte
    /// length is `shape`'s element count times `dt`'s size, and that the bytes are valid elements of `dt`
    /// (`Tensor::from_bytes` does both).
    #[allow(unsafe_code)]
    pub(crate) fn into_tract(self, dt: DatumType, shape: &[usize]) -> Result<TractTensor, String> {
        let mut tensor = self.0;
        let count = tensor.len() / dt.size_of().max(1);
        if !dt.is_copy() || count.checked_mul(dt.size_of()) != Some(tensor.len()) {
            return Err(format!("{} bytes are not {dt:?} elements", tensor.len()));
        }
        // SAFETY: `dt` is a plain `Copy` type with no drop glue, like `u8`, so the buffer may hold it; the caller
        // checked that the bytes are valid `dt` values. The flat shape of `count` elements covers exactly the
        // buffer's bytes, as does `shape` (which `set_shape` checks against that count).
        unsafe {
            tensor.set_datum_type(dt);
            tensor.set_shape_unchecked(&[count]);
        }
        tensor.set_shape(shape).map_err(|e| format!("{e:#}"))?;
        Ok(tensor)
    }

    /// tract's tensor of a plain type as its bytes, without a copy when its storage is plain memory.
    #[allow(unsafe_code)]
    pub(crate) fn from_tract(tensor: TractTensor) -> Result<Self, String> {
        let dt = tensor.datum_type();
        if !dt.is_copy() {
            return Err(format!("{dt:?} elements are not plain bytes"));
        }
        let mut tensor = tensor.into_plain_ram().map_err(|e| format!("{e:#}"))?;
        let bytes = tensor.len() * dt.size_of();
        // SAFETY: as in `into_tract`, the other way: every byte of a plain `Copy` value is a valid `u8`, and
        // the flat shape of `bytes` bytes covers exactly the buffer.
        unsafe {
            tensor.set_datum_type(DatumType::U8);
            tensor.set_shape_unchecked(&[bytes]);
        }
        Ok(Self(tensor))
    }
}

impl Clone for Elements {
    fn clone(&self) -> Self {
        Self::copied_from(self.as_bytes())
    }
}

impl PartialEq for Elements {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl std::fmt::Debug for Elements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Elements({} bytes)", self.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_go_to_tract_and_back_without_a_copy() {
        let values = [1.5f32, -2.0, 3.25, 0.0, 7.0, 8.5];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let elements = Elements::copied_from(&bytes);
        let address = elements.as_bytes().as_ptr();
        assert_eq!(address.align_offset(ALIGN), 0, "aligned for any element type and SIMD");

        let tensor = elements.into_tract(DatumType::F32, &[2, 3]).unwrap();
        assert_eq!(tensor.shape(), &[2, 3]);
        assert_eq!(tensor.try_as_plain_ram().unwrap().as_slice::<f32>().unwrap(), &values);
        assert_eq!(tensor.as_bytes().as_ptr(), address, "tract runs on the same buffer");

        let back = Elements::from_tract(tensor).unwrap();
        assert_eq!(back.as_bytes(), &bytes[..]);
        assert_eq!(back.as_bytes().as_ptr(), address);
    }

    #[test]
    fn scalars_and_empty_tensors() {
        let scalar = Elements::copied_from(&7i64.to_le_bytes()).into_tract(DatumType::I64, &[]).unwrap();
        assert_eq!(scalar.shape(), &[] as &[usize]);
        assert_eq!(scalar.cast_to_scalar::<i64>().unwrap(), 7);
        let empty = Elements::copied_from(&[]).into_tract(DatumType::F32, &[0, 4]).unwrap();
        assert_eq!(empty.shape(), &[0, 4]);
        assert!(Elements::from_tract(empty).unwrap().as_bytes().is_empty());
        assert!(Elements::copied_from(&[0; 6]).into_tract(DatumType::F32, &[1]).is_err(), "6 bytes are no f32s");
        assert!(Elements::copied_from(&[0; 8]).into_tract(DatumType::F32, &[3]).is_err(), "wrong shape");
    }

    #[test]
    fn parts_are_joined_in_order() {
        let parts: [&[u8]; 3] = [&[1, 2], &[], &[3, 4, 5]];
        let joined = Elements::concatenated(parts.iter().copied());
        assert_eq!(joined.as_bytes(), &[1, 2, 3, 4, 5]);
        assert_eq!(joined.as_bytes().as_ptr().align_offset(ALIGN), 0);
    }

    #[test]
    fn strings_are_not_elements() {
        let strings = TractTensor::from(tract_onnx::prelude::tract_ndarray::arr1(&["a".to_string()]));
        assert!(Elements::from_tract(strings).is_err());
    }
}
