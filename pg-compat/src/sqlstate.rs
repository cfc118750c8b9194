//! Errors become SQLSTATE codes for wire clients: the mapping is the engine's
//! (`groundtruth_engine::sqlstate`); this module applies it to pgwire's errors.

use datafusion::error::DataFusionError;
use groundtruth_engine::error::EngineError;
use pgwire::error::{ErrorInfo, PgWireError};

use datafusion_postgres::pgwire;

pub use groundtruth_engine::sqlstate::{codes, for_datafusion, for_engine};

/// Give an error coming out of the query path its proper SQLSTATE. Errors that already carry
/// one (pgwire's own, or raised with a code) are left alone.
pub fn classify(error: &mut PgWireError) {
    let PgWireError::ApiError(inner) = error else {
        return;
    };
    let (code, message) = if let Some(datafusion) = inner.downcast_ref::<DataFusionError>() {
        for_datafusion(datafusion)
    } else if let Some(engine) = inner.downcast_ref::<EngineError>() {
        for_engine(engine)
    } else if let Some(parse) =
        inner.downcast_ref::<datafusion::sql::sqlparser::parser::ParserError>()
    {
        (codes::SYNTAX_ERROR, format!("syntax error: {parse}"))
    } else {
        (codes::INTERNAL, inner.to_string())
    };
    *error = user_error(code, message);
}

/// An `ERROR`-severity message with a code.
pub fn user_error(code: &str, message: impl Into<String>) -> PgWireError {
    PgWireError::UserError(Box::new(ErrorInfo::new(
        "ERROR".to_string(),
        code.to_string(),
        message.into(),
    )))
}
