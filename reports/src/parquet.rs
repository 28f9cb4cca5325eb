//! The tidy tables of [`crate::tables`] as Parquet files, for data tools
//! that read Parquet natively (pandas, polars, DuckDB, R's arrow).
//!
//! Each column has one fixed type, whatever rows a particular export holds:
//! names and labels are UTF-8 strings, counts and indices 64-bit integers,
//! every other number a double. Every column is optional; a cell CSV writes
//! empty (no value, or NaN) is a null. Uncompressed, one row group per
//! table: the tables are small, and this keeps the crate's build lean (no
//! Arrow, no codecs).

use std::io::Write;
use std::sync::Arc;

use parquet::basic::{LogicalType, Repetition, Type as Physical};
use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::Type;

use crate::tables::{Cell, Table};

/// Why a table could not be written as Parquet.
#[derive(Debug, thiserror::Error)]
pub enum ParquetError {
    /// A column holds a cell its fixed type cannot represent (a bug in the
    /// table builder, never in the input).
    #[error("table `{table}`, column `{column}`: {found} in a {kind} column")]
    CellType {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// What the cell was.
        found: &'static str,
        /// The column's type.
        kind: &'static str,
    },
    /// The Parquet writer failed (an I/O error or a schema problem).
    #[error("table `{table}`: {source}")]
    Write {
        /// The table.
        table: &'static str,
        /// Why.
        source: parquet::errors::ParquetError,
    },
}

/// A column's fixed type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    /// UTF-8 strings: names and labels.
    Text,
    /// 64-bit integers: counts, indices, steps.
    Int,
    /// Doubles: every estimate and bound.
    Float,
}

impl ColumnKind {
    fn name(self) -> &'static str {
        match self {
            ColumnKind::Text => "text",
            ColumnKind::Int => "integer",
            ColumnKind::Float => "double",
        }
    }
}

/// The fixed type of a column of the tidy tables, by its name.
pub fn column_kind(column: &str) -> ColumnKind {
    match column {
        "scenario" | "kind" | "method" | "policy" | "metric" | "control" | "variant"
        | "measure" | "path" | "text" | "vary" | "status" | "estimator" => ColumnKind::Text,
        "arm" | "successes" | "trials" | "replications" | "look" | "checkpoint" | "point"
        | "log_size" | "estimates" | "covered" => ColumnKind::Int,
        _ => ColumnKind::Float,
    }
}

fn cell_name(c: &Cell) -> &'static str {
    match c {
        Cell::Empty => "an empty cell",
        Cell::Text(_) => "text",
        Cell::Int(_) => "an integer",
        Cell::Float(_) => "a number",
    }
}

/// Write `table` to `out` as a Parquet file.
pub fn write_table<W: Write + Send>(table: &Table, out: W) -> Result<(), ParquetError> {
    let err = |source| ParquetError::Write {
        table: table.name,
        source,
    };
    let fields = table
        .columns
        .iter()
        .map(|&c| {
            let (physical, logical) = match column_kind(c) {
                ColumnKind::Text => (Physical::BYTE_ARRAY, Some(LogicalType::String)),
                ColumnKind::Int => (Physical::INT64, None),
                ColumnKind::Float => (Physical::DOUBLE, None),
            };
            Type::primitive_type_builder(c, physical)
                .with_repetition(Repetition::OPTIONAL)
                .with_logical_type(logical)
                .build()
                .map(Arc::new)
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let schema = Type::group_type_builder(table.name)
        .with_fields(fields)
        .build()
        .map_err(err)?;
    let props = Arc::new(
        WriterProperties::builder()
            .set_created_by(format!("umpire {}", env!("CARGO_PKG_VERSION")))
            .build(),
    );
    let mut writer = SerializedFileWriter::new(out, Arc::new(schema), props).map_err(err)?;
    let mut group = writer.next_row_group().map_err(err)?;
    let mut column = 0;
    while let Some(mut col) = group.next_column().map_err(err)? {
        let name = table.columns[column];
        let kind = column_kind(name);
        let cells = table.rows.iter().map(|r| &r[column]);
        let mismatch = |c: &Cell| ParquetError::CellType {
            table: table.name,
            column: name,
            found: cell_name(c),
            kind: kind.name(),
        };
        let mut defined = Vec::with_capacity(table.rows.len());
        match kind {
            ColumnKind::Text => {
                let mut values = Vec::new();
                for c in cells {
                    match c {
                        Cell::Text(s) => values.push(ByteArray::from(s.as_str())),
                        Cell::Empty => {}
                        other => return Err(mismatch(other)),
                    }
                    defined.push(i16::from(matches!(c, Cell::Text(_))));
                }
                col.typed::<ByteArrayType>()
                    .write_batch(&values, Some(&defined), None)
                    .map_err(err)?;
            }
            ColumnKind::Int => {
                let mut values = Vec::new();
                for c in cells {
                    match c {
                        Cell::Int(n) => values.push(i64::try_from(*n).unwrap_or(i64::MAX)),
                        Cell::Empty => {}
                        other => return Err(mismatch(other)),
                    }
                    defined.push(i16::from(matches!(c, Cell::Int(_))));
                }
                col.typed::<Int64Type>()
                    .write_batch(&values, Some(&defined), None)
                    .map_err(err)?;
            }
            ColumnKind::Float => {
                let mut values = Vec::new();
                for c in cells {
                    // Counts in a numeric column (a `value` that is a count)
                    // are exact as doubles below 2^53.
                    let x = match c {
                        Cell::Float(x) if !x.is_nan() => Some(*x),
                        Cell::Int(n) => Some(*n as f64),
                        Cell::Float(_) | Cell::Empty => None,
                        Cell::Text(_) => return Err(mismatch(c)),
                    };
                    values.extend(x);
                    defined.push(i16::from(x.is_some()));
                }
                col.typed::<DoubleType>()
                    .write_batch(&values, Some(&defined), None)
                    .map_err(err)?;
            }
        }
        col.close().map_err(err)?;
        column += 1;
    }
    group.close().map_err(err)?;
    writer.close().map_err(err)?;
    Ok(())
}
