//! The settings every wire session starts with, applied to the shared session context once.
//!
//! DataFusion leaves `datafusion.execution.time_zone` unset, and then plans
//! `TIMESTAMP WITH TIME ZONE` literals and casts, and `now()`, as timestamps without a zone;
//! datafusion-postgres sends those as `timestamp` (OID 1114), so clients decode zone-less
//! datetimes where PostgreSQL gives them `timestamptz` (OID 1184). Groundtruth keeps every
//! instant in UTC, so UTC is the zone these values carry too.

use std::sync::Arc;

use datafusion::common::Result;
use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::ScalarUDF;
use datafusion::prelude::SessionContext;

/// The session time zone: the zone of `timestamptz` values and what `SHOW TIME ZONE` reports.
pub const TIME_ZONE: &str = "UTC";

/// Give `context` the session defaults clients rely on (the time zone above). Functions that
/// read the configuration when registered (`now()`) are registered again, as DataFusion's own
/// `SET` does.
pub fn apply_defaults(context: &SessionContext) -> Result<()> {
    let state = context.state_ref();
    let mut state = state.write();
    state.config_mut().options_mut().execution.time_zone = Some(TIME_ZONE.to_string());
    let options = Arc::clone(state.config().options());
    let updated: Vec<ScalarUDF> = state
        .scalar_functions()
        .values()
        .filter_map(|function| function.inner().with_updated_config(&options))
        .collect();
    for function in updated {
        state.register_udf(Arc::new(function))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::datatypes::DataType;

    async fn result_type(context: &SessionContext, sql: &str) -> DataType {
        let frame = context.sql(sql).await.expect("planned");
        frame.schema().field(0).data_type().clone()
    }

    #[tokio::test]
    async fn timestamptz_literals_and_now_carry_the_zone() {
        let context = SessionContext::new();
        apply_defaults(&context).expect("applied");
        for sql in [
            "SELECT '2024-01-02 03:04:05+00'::timestamptz",
            "SELECT CAST('2024-01-02 03:04:05+00' AS TIMESTAMP WITH TIME ZONE)",
            "SELECT now()",
        ] {
            let DataType::Timestamp(_, Some(zone)) = result_type(&context, sql).await else {
                panic!("{sql} has no zone");
            };
            assert_eq!(zone.as_ref(), TIME_ZONE, "{sql}");
        }
        assert!(matches!(
            result_type(&context, "SELECT '2024-01-02 03:04:05'::timestamp").await,
            DataType::Timestamp(_, None)
        ));
    }
}
