//! Parsing and encoding, checked natively (`cargo test --target` your host triple).

use edge_infer_guest::nn::{ElementType, Tensor};
use serde_json::json;

use crate::json::{Data, output, tensor};
use crate::parse_shape;

fn body(r: edge_infer_guest::Response) -> serde_json::Value {
    serde_json::from_slice(&r.body).unwrap()
}

#[test]
fn shapes_parse_with_spaces_and_brackets() {
    assert_eq!(parse_shape("1,3,224,224").unwrap(), [1, 3, 224, 224]);
    assert_eq!(parse_shape(" [1, 3] ").unwrap(), [1, 3]);
    assert_eq!(parse_shape("").unwrap(), Vec::<u32>::new());
    let err = parse_shape("1,x").unwrap_err();
    assert_eq!(err.status, 400);
    assert_eq!(body(err)["error"]["code"], "bad_request");
}

#[test]
fn json_inputs_encode_little_endian() {
    let t = tensor("x", "f32", &[1, 2], &json!([[1.0, 2]])).unwrap();
    assert_eq!(t.dims(), [1, 2]);
    assert_eq!(t.ty(), ElementType::F32);
    assert_eq!(t.to_f32().unwrap(), [1.0, 2.0]);

    let t = tensor("x", "I64", &[2], &json!([-1, 5])).unwrap();
    assert_eq!(t.data()[..8], (-1i64).to_le_bytes());
    let t = tensor("x", "f16", &[1], &json!([1.5])).unwrap();
    assert_eq!(t.data(), half::f16::from_f32(1.5).to_le_bytes());
    let t = tensor("x", "bf16", &[1], &json!(2.0)).unwrap();
    assert_eq!(t.data(), half::bf16::from_f32(2.0).to_le_bytes());
}

#[test]
fn json_inputs_are_checked() {
    for (ty, shape, data) in [
        ("f8", vec![1], json!([1])),
        ("f32", vec![1, 3], json!([1, 2])),
        ("u8", vec![1], json!([256])),
        ("i32", vec![1], json!([1.5])),
        ("f32", vec![1], json!(["1"])),
        ("f32", vec![1 << 40], json!([1])),
    ] {
        let err = tensor("x", ty, &shape, &data).unwrap_err();
        assert_eq!(err.status, 400, "{ty} {shape:?} {data}");
        assert_eq!(body(err)["error"]["code"], "bad_request");
    }
}

#[test]
fn outputs_decode_every_type() {
    let f16s: Vec<u8> = [0.5f32, -2.0].iter().flat_map(|&v| half::f16::from_f32(v).to_le_bytes()).collect();
    let out = output("y".into(), &Tensor::new(&[2], ElementType::F16, f16s)).unwrap();
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        json!({"name": "y", "type": "f16", "shape": [2], "data": [0.5, -2.0]})
    );
    let out = output("y".into(), &Tensor::from_f32(&[1, 1], &[0.1])).unwrap();
    assert_eq!(serde_json::to_string(&out.data_for_test()).unwrap(), "[0.1]");
    let i64s = Tensor::new(&[1], ElementType::I64, i64::MIN.to_le_bytes().to_vec());
    assert_eq!(output("z".into(), &i64s).unwrap().data_for_test(), &Data::I64(vec![i64::MIN]));
    let short = Tensor::new(&[2], ElementType::I32, vec![0; 4]);
    assert_eq!(output("z".into(), &short).unwrap_err().status, 500);
}
