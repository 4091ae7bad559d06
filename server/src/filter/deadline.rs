//! Evaluations stopped while they run. CEL's only loops are its list macros, which the parser
//! expands into comprehensions: each compiled filter gets a checkpoint in every iteration of
//! every comprehension ([`instrument`]), a call that fails once the running evaluation's
//! deadline has passed ([`with_deadline`]), and the failure ends the evaluation there. An
//! expression walking a huge list in a huge record is stopped at its budget instead of being
//! judged after it finished.
//!
//! The checkpoint sits where the interpreter evaluates something every iteration anyway, and
//! keeps the shapes the interpreter runs fastest (`map` and `filter` append in place): a
//! macro's loop condition (`all`, `exists`), a filter's or `exists_one`'s guard, a `map`'s
//! element.

use cel::common::ast::{
    operators, CallExpr, ComprehensionExpr, EntryExpr, Expr, IdedExpr, LiteralValue,
};
use cel::common::types::CelBool;
use cel::ExecutionError;
use std::{cell::Cell, time::Instant};

/// The checkpoint's name. No filter can call it: CEL's lexer takes no `@` in a name.
pub(super) const CHECKPOINT: &str = "@within_budget";

thread_local! {
    /// When the evaluation running on this thread must stop (none: no evaluation runs).
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// The checkpoint: its argument while the running evaluation is within its deadline, an error
/// (which ends the evaluation) once it is past.
pub(super) fn within_budget(value: &CelBool) -> Result<CelBool, ExecutionError> {
    match DEADLINE.with(Cell::get) {
        Some(deadline) if Instant::now() > deadline => Err(ExecutionError::function_error(
            CHECKPOINT,
            "the evaluation ran past its budget",
        )),
        _ => Ok(*value),
    }
}

/// Runs `evaluate` with `deadline` as the deadline of the checkpoints it reaches on this thread.
pub(super) fn with_deadline<T>(deadline: Instant, evaluate: impl FnOnce() -> T) -> T {
    /// Clears the deadline however the evaluation ends (a panic included).
    struct Cleared;
    impl Drop for Cleared {
        fn drop(&mut self) {
            DEADLINE.with(|d| d.set(None));
        }
    }
    DEADLINE.with(|d| d.set(Some(deadline)));
    let _cleared = Cleared;
    evaluate()
}

/// `expression` with a checkpoint in every iteration of every comprehension in it.
pub(super) fn instrument(expression: &IdedExpr) -> IdedExpr {
    let mut instrumented = expression.clone();
    visit(&mut instrumented);
    instrumented
}

fn visit(expression: &mut IdedExpr) {
    match &mut expression.expr {
        Expr::Call(call) => {
            if let Some(target) = call.target.as_deref_mut() {
                visit(target);
            }
            call.args.iter_mut().for_each(visit);
        }
        Expr::Select(select) => visit(&mut select.operand),
        Expr::List(list) => list.elements.iter_mut().for_each(visit),
        Expr::Map(map) => map
            .entries
            .iter_mut()
            .for_each(|e| visit_entry(&mut e.expr)),
        Expr::Struct(fields) => fields
            .entries
            .iter_mut()
            .for_each(|e| visit_entry(&mut e.expr)),
        Expr::Comprehension(comprehension) => {
            for part in [
                &mut comprehension.iter_range,
                &mut comprehension.accu_init,
                &mut comprehension.loop_cond,
                &mut comprehension.loop_step,
                &mut comprehension.result,
            ] {
                visit(part);
            }
            checkpoint(comprehension);
        }
        Expr::Ident(_) | Expr::Literal(_) | Expr::Unspecified => {}
    }
}

fn visit_entry(entry: &mut EntryExpr) {
    match entry {
        EntryExpr::MapEntry(entry) => {
            visit(&mut entry.key);
            visit(&mut entry.value);
        }
        EntryExpr::StructField(field) => visit(&mut field.value),
    }
}

/// Puts one checkpoint where `comprehension` evaluates something in every iteration.
fn checkpoint(comprehension: &mut ComprehensionExpr) {
    // `all`, `exists`: the condition that stops the walk early.
    if !matches!(comprehension.loop_cond.expr, Expr::Literal(_)) {
        return around_bool(&mut comprehension.loop_cond);
    }
    if let Expr::Call(step) = &mut comprehension.loop_step.expr {
        match (step.func_name.as_str(), step.args.as_mut_slice()) {
            // `filter`, `exists_one`: `guard ? … : …`.
            (operators::CONDITIONAL, [guard, _, _]) => return around_bool(guard),
            // `map`: `@result + [element]`.
            (operators::ADD, [_, appended]) => {
                if let Expr::List(list) = &mut appended.expr {
                    if let Some(element) = list.elements.first_mut() {
                        return around_any(element);
                    }
                }
            }
            _ => {}
        }
    }
    around_any(&mut comprehension.loop_step);
}

/// `checkpoint(expression)`, for a boolean.
fn around_bool(expression: &mut IdedExpr) {
    let inner = std::mem::take(expression);
    *expression = call(CHECKPOINT, vec![inner]);
}

/// `checkpoint(true) ? expression : null`, for a value of any type.
fn around_any(expression: &mut IdedExpr) {
    let inner = std::mem::take(expression);
    let passed = call(
        CHECKPOINT,
        vec![literal(LiteralValue::Boolean(true.into()))],
    );
    *expression = call(
        operators::CONDITIONAL,
        vec![passed, inner, literal(LiteralValue::Null)],
    );
}

fn call(function: &str, args: Vec<IdedExpr>) -> IdedExpr {
    IdedExpr {
        id: 0,
        expr: Expr::Call(CallExpr {
            func_name: function.to_owned(),
            target: None,
            args,
        }),
    }
}

fn literal(value: LiteralValue) -> IdedExpr {
    IdedExpr {
        id: 0,
        expr: Expr::Literal(value),
    }
}
