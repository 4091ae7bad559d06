//! The rules an expression must keep to be compiled at all: only the record's variables, the
//! functions of [`super::FUNCTIONS`] and the type names; no list macro inside another, nor the
//! record read again inside one; literal lists a macro walks, `matches` patterns and `+` kept
//! few. Each rule reads the parsed expression; nothing here evaluates anything.

use super::{
    pattern, FilterError, FUNCTIONS, MAX_LITERAL_RANGE, MAX_PATTERNS_PER_FILTER, TYPE_NAMES,
    VARIABLES,
};
use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use std::collections::HashSet;

/// Refuses what a filter may not use: unknown functions and names, and list macros inside list
/// macros. `scope` holds the macros' own variables; `macros` how many macros enclose `expr`.
pub(super) fn check(
    expr: &IdedExpr,
    scope: &mut Vec<String>,
    macros: usize,
    patterns: &mut usize,
) -> Result<(), FilterError> {
    match &expr.expr {
        Expr::Unspecified | Expr::Literal(_) => Ok(()),
        Expr::Ident(name) => {
            let own = scope.iter().any(|v| v == name);
            // Inside a macro, the record again (`value.items.exists(i, i in value.items)`)
            // would be walked once per element: quadratic in the record's size.
            if macros > 0 && !own && VARIABLES.contains(&name.as_str()) {
                return Err(FilterError::TooCostly);
            }
            let known =
                own || VARIABLES.contains(&name.as_str()) || TYPE_NAMES.contains(&name.as_str());
            match known {
                true => Ok(()),
                false => Err(FilterError::UnknownVariable(name.clone())),
            }
        }
        Expr::Select(select) => check(&select.operand, scope, macros, patterns),
        Expr::Call(call) => {
            let operator = call.func_name.starts_with('_')
                || call.func_name.starts_with('@')
                || call.func_name.starts_with('!')
                || call.func_name.starts_with('-');
            if !operator && !FUNCTIONS.contains(&call.func_name.as_str()) {
                return Err(FilterError::UnknownFunction(call.func_name.clone()));
            }
            // A pattern is compiled once, with the expression: it must be written in it, not
            // taken from the record.
            if call.func_name == "matches" {
                *patterns += 1;
                if *patterns > MAX_PATTERNS_PER_FILTER {
                    return Err(FilterError::TooManyPatterns);
                }
                let Some(Expr::Literal(literal)) = call.args.last().map(|a| &a.expr) else {
                    return Err(FilterError::PatternNotLiteral);
                };
                let text = match literal {
                    cel::common::ast::LiteralValue::String(text) => text.inner().to_owned(),
                    _ => return Err(FilterError::PatternNotLiteral),
                };
                pattern(&text).map_err(|e| FilterError::InvalidPattern {
                    pattern: text.clone(),
                    reason: e.to_string(),
                })?;
            }
            if let Some(target) = &call.target {
                check(target, scope, macros, patterns)?;
            }
            call.args
                .iter()
                .try_for_each(|a| check(a, scope, macros, patterns))
        }
        Expr::List(list) => list
            .elements
            .iter()
            .try_for_each(|e| check(e, scope, macros, patterns)),
        Expr::Map(map) => map.entries.iter().try_for_each(|entry| match &entry.expr {
            EntryExpr::MapEntry(e) => {
                check(&e.key, scope, macros, patterns)?;
                check(&e.value, scope, macros, patterns)
            }
            EntryExpr::StructField(f) => check(&f.value, scope, macros, patterns),
        }),
        Expr::Struct(_) => Err(FilterError::UnknownFunction("a message literal".into())),
        Expr::Comprehension(c) => {
            if macros > 0 {
                return Err(FilterError::TooCostly);
            }
            if literal_elements(&c.iter_range) > MAX_LITERAL_RANGE {
                return Err(FilterError::RangeTooLong);
            }
            check(&c.iter_range, scope, macros, patterns)?;
            let added: HashSet<&String> =
                [Some(&c.iter_var), c.iter_var2.as_ref(), Some(&c.accu_var)]
                    .into_iter()
                    .flatten()
                    .collect();
            let depth = scope.len();
            scope.extend(added.into_iter().cloned());
            let inner = [&c.accu_init, &c.loop_cond, &c.loop_step, &c.result]
                .into_iter()
                .try_for_each(|e| check(e, scope, macros + 1, patterns));
            scope.truncate(depth);
            inner
        }
    }
}

/// How many calls of `function` (an operator's name, such as `_+_`) `expr` makes, wherever.
pub(super) fn calls_of(expr: &IdedExpr, function: &str) -> usize {
    let all = |exprs: &mut dyn Iterator<Item = &IdedExpr>| -> usize {
        exprs.map(|e| calls_of(e, function)).sum()
    };
    match &expr.expr {
        Expr::Call(call) => {
            usize::from(call.func_name == function)
                + all(&mut call.target.iter().map(|t| &**t))
                + all(&mut call.args.iter())
        }
        Expr::Select(select) => calls_of(&select.operand, function),
        Expr::List(list) => all(&mut list.elements.iter()),
        Expr::Map(map) => map
            .entries
            .iter()
            .map(|entry| match &entry.expr {
                EntryExpr::MapEntry(e) => calls_of(&e.key, function) + calls_of(&e.value, function),
                EntryExpr::StructField(f) => calls_of(&f.value, function),
            })
            .sum(),
        Expr::Comprehension(c) => all(&mut [
            &c.iter_range,
            &c.accu_init,
            &c.loop_cond,
            &c.loop_step,
            &c.result,
        ]
        .into_iter()),
        _ => 0,
    }
}

/// How many elements the lists written in `expr` have in all (`[1, 2] + [3]`: 3), the most a
/// macro walking it can walk of them.
fn literal_elements(expr: &IdedExpr) -> usize {
    match &expr.expr {
        Expr::List(list) => {
            list.elements.len() + list.elements.iter().map(literal_elements).sum::<usize>()
        }
        Expr::Call(call) => call
            .target
            .iter()
            .map(|t| literal_elements(t))
            .chain(call.args.iter().map(literal_elements))
            .sum(),
        _ => 0,
    }
}
