//! The Apache Arrow a plugin uses, with the module paths of the `arrow`
//! crate (`emoflow_sdk::arrow::array::Float32Array`, `...::datatypes::Field`,
//! `...::record_batch::RecordBatch`, ...).
//!
//! The SDK depends on arrow's sub-crates (`arrow-array`, `arrow-buffer`,
//! `arrow-data`, `arrow-schema`, with the C data interface) rather than on
//! the `arrow` umbrella: the umbrella always builds the compute kernels
//! (cast, arithmetic, sort, ...), which a plugin's first build would spend
//! most of its time on and which the SDK does not use. The types are the
//! same as the umbrella's of the same version, so a plugin that needs a
//! kernel adds `arrow` (or one kernel crate such as `arrow-select`) at the
//! SDK's arrow version and passes arrays freely between the two.
//!
//! ```
//! use emoflow_sdk::arrow::array::{Array, Float32Array};
//! use emoflow_sdk::arrow::datatypes::DataType;
//!
//! let values = Float32Array::from(vec![0.5, -0.25]);
//! assert_eq!(values.data_type(), &DataType::Float32);
//! ```

/// Arrays, their builders and the casts between `dyn Array` and concrete
/// arrays (the umbrella's `arrow::array`, less its comparators).
pub mod array {
    pub use arrow_array::builder::*;
    pub use arrow_array::cast::*;
    pub use arrow_array::iterator::*;
    pub use arrow_array::*;
    pub use arrow_data::{ArrayData, ArrayDataBuilder};
}

/// Buffers (`arrow::buffer`).
pub use arrow_buffer::buffer;

/// Data types, fields and schemas (`arrow::datatypes`).
pub mod datatypes {
    pub use arrow_array::types::*;
    pub use arrow_array::{ArrowNativeTypeOp, ArrowNumericType, ArrowPrimitiveType};
    pub use arrow_buffer::{ArrowNativeType, ToByteSlice, i256};
    pub use arrow_schema::{
        DataType, Field, FieldRef, Fields, IntervalUnit, Metadata, Schema, SchemaBuilder,
        SchemaRef, TimeUnit, UnionFields, UnionMode,
    };
}

/// Arrow's error type (`arrow::error`).
pub mod error {
    pub use arrow_schema::ArrowError;

    pub type Result<T> = std::result::Result<T, ArrowError>;
}

/// The C data interface (`arrow::ffi`).
pub use arrow_array::ffi;

/// The C stream interface the plugin ABI passes ports through
/// (`arrow::ffi_stream`).
pub use arrow_array::ffi_stream;

/// Record batches and their readers (`arrow::record_batch`).
pub mod record_batch {
    pub use arrow_array::{
        RecordBatch, RecordBatchIterator, RecordBatchOptions, RecordBatchReader, RecordBatchWriter,
    };
}
