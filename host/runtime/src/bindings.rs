//! Host bindings for the interfaces this crate implements itself: `wasi:nn` (async, over our scheduler) and
//! `edge:infer/models`. WASI, wasi:http and wasi:config come from wasmtime's own crates. The WIT is the
//! repository's `wit/` folder, the same files the guests are built against.

wasmtime::component::bindgen!({
    path: "../../wit",
    inline: "
        package edge:infer-host;
        world nn-host {
            import wasi:nn/tensor@0.2.0-rc-2024-10-28;
            import wasi:nn/graph@0.2.0-rc-2024-10-28;
            import wasi:nn/inference@0.2.0-rc-2024-10-28;
            import wasi:nn/errors@0.2.0-rc-2024-10-28;
            import edge:infer/models@0.1.0;
        }
    ",
    world: "edge:infer-host/nn-host",
    imports: { default: async | trappable },
    with: {
        "wasi:nn/tensor.tensor": crate::nn_host::TensorResource,
        "wasi:nn/graph.graph": crate::nn_host::GraphResource,
        "wasi:nn/inference.graph-execution-context": crate::nn_host::ExecutionContextResource,
        "wasi:nn/errors.error": crate::nn_host::ErrorResource,
    },
});

pub use edge::infer::models;
pub use wasi::nn::{errors, graph, inference, tensor};
