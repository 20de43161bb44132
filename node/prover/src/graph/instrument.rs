//! Rewrites circom's witness calculator so that a host tracer sees every field operation.
//!
//! - Every `Fr_*` function a template calls gets a wrapper that calls the host before
//!   (`pre`) and after (`post`) it with its operation number and arguments; the templates call
//!   the wrappers. `Fr_*` functions calling each other are left alone.
//! - A branch on `Fr_isTrue` whose arms only compute (no control flow, no stores, no other
//!   calls) runs both arms: `branchBegin(condition)`, the first arm, `branchElse`, the second,
//!   `branchEnd`. The host undoes the first arm's writes before the second and keeps, for each
//!   address, the arm the condition chooses.
//! - `Fr_int_inverseMod` calls the host's native inversion, as in [`crate::native_inverse`]
//!   (the wasm's own loops forever on zero, which an arm not taken may invert).

use crate::native_inverse;
use std::collections::HashMap;
use wasm_encoder::reencode::{self, Reencode};
use wasmparser::{FuncType, Name, NameSectionReader, Operator, Payload, TypeRef, ValType};

/// The import module of the tracing hooks.
pub(super) const MODULE: &str = "zkcreditsTrace";

/// The hooks, in the order they are imported after the module's own imports.
pub(super) const HOOKS: [&str; 6] =
    ["pre", "post", "branchBegin", "branchElse", "branchEnd", "inverseModPrime"];

/// An instrumented calculator and the names of its wrapped functions, indexed by the operation
/// number the hooks receive.
pub(super) struct Instrumented {
    pub wasm: Vec<u8>,
    pub operations: Vec<String>,
}

pub(super) fn instrument(wasm: &[u8]) -> Result<Instrumented, String> {
    let layout = Layout::read(wasm)?;
    let operations = layout.wrapped.iter().map(|f| layout.names[f].clone()).collect();
    let mut rewriter = Rewriter { wrapper_of: HashMap::new(), layout, next_body: 0 };
    let defined = rewriter.layout.defined.len() as u32;
    for (j, &f) in rewriter.layout.wrapped.iter().enumerate() {
        let index = rewriter.layout.imported + HOOKS.len() as u32 + defined + j as u32;
        rewriter.wrapper_of.insert(f, index);
    }
    let mut module = wasm_encoder::Module::new();
    rewriter
        .parse_core_module(&mut module, wasmparser::Parser::new(0), wasm)
        .map_err(|e| format!("cannot instrument the witness calculator: {e}"))?;
    let wasm = module.finish();
    wasmparser::validate(&wasm)
        .map_err(|e| format!("the instrumented calculator is invalid: {e}"))?;
    Ok(Instrumented { wasm, operations })
}

struct Layout {
    imported: u32,
    types: Vec<FuncType>,
    /// Type index of each defined function.
    defined: Vec<u32>,
    names: HashMap<u32, String>,
    /// Functions that get a wrapper, in operation order.
    wrapped: Vec<u32>,
    is_true: Option<u32>,
    inverse: Option<u32>,
}

impl Layout {
    fn read(wasm: &[u8]) -> Result<Self, String> {
        let mut layout = Self {
            imported: 0,
            types: Vec::new(),
            defined: Vec::new(),
            names: HashMap::new(),
            wrapped: Vec::new(),
            is_true: None,
            inverse: None,
        };
        let mut bodies = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload.map_err(|e| e.to_string())? {
                Payload::TypeSection(reader) => {
                    for ty in reader.into_iter_err_on_gc_types() {
                        layout.types.push(ty.map_err(|e| e.to_string())?);
                    }
                }
                Payload::ImportSection(reader) => {
                    for import in reader.into_imports() {
                        if let TypeRef::Func(_) = import.map_err(|e| e.to_string())?.ty {
                            layout.imported += 1;
                        }
                    }
                }
                Payload::FunctionSection(reader) => {
                    for ty in reader {
                        layout.defined.push(ty.map_err(|e| e.to_string())?);
                    }
                }
                Payload::CodeSectionEntry(body) => bodies.push(body),
                Payload::CustomSection(section) if section.name() == "name" => {
                    let names = NameSectionReader::new(wasmparser::BinaryReader::new(
                        section.data(),
                        section.data_offset(),
                    ));
                    for name in names.into_iter().flatten() {
                        if let Name::Function(map) = name {
                            for naming in map.into_iter().flatten() {
                                layout.names.insert(naming.index, naming.name.to_owned());
                            }
                        }
                    }
                }
                _ => {}
            }
        }
        if layout.names.is_empty() {
            return Err("the calculator has no function names (compile it with circom 2)".into());
        }
        let find = |name: &str| layout.names.iter().find(|(_, n)| *n == name).map(|(&i, _)| i);
        layout.is_true = find("Fr_isTrue");
        layout.inverse = find("Fr_int_inverseMod");
        // Wrap every `Fr_*` function a function outside the field library calls.
        let mut wrapped = std::collections::BTreeSet::new();
        for (i, body) in bodies.iter().enumerate() {
            let index = layout.imported + i as u32;
            if layout.is_field_library(index) {
                continue;
            }
            for op in body.get_operators_reader().map_err(|e| e.to_string())? {
                if let Operator::Call { function_index } = op.map_err(|e| e.to_string())?
                    && layout.is_field_library(function_index)
                {
                    wrapped.insert(function_index);
                }
            }
        }
        for &f in &wrapped {
            let ty = layout.type_of(f).ok_or("a wrapped function is not defined here")?;
            let i32s = |types: &[ValType]| types.iter().all(|t| *t == ValType::I32);
            if ty.params().len() > 3
                || ty.results().len() > 1
                || !i32s(ty.params())
                || !i32s(ty.results())
            {
                return Err(format!(
                    "{} has a signature the tracer does not know",
                    layout.names[&f]
                ));
            }
        }
        layout.wrapped = wrapped.into_iter().collect();
        Ok(layout)
    }

    fn is_field_library(&self, function: u32) -> bool {
        self.names.get(&function).is_some_and(|n| n.starts_with("Fr_"))
    }

    fn type_of(&self, function: u32) -> Option<&FuncType> {
        let defined = function.checked_sub(self.imported)? as usize;
        self.types.get(*self.defined.get(defined)? as usize)
    }

    fn hook(&self, i: usize) -> u32 {
        self.imported + i as u32
    }
}

struct Rewriter {
    layout: Layout,
    /// Old index of a wrapped function → index of its wrapper.
    wrapper_of: HashMap<u32, u32>,
    next_body: u32,
}

/// Types appended to the module: the hooks' signatures, then the native inversion's.
const HOOK_TYPES: [(usize, usize); 4] = [(4, 0), (5, 0), (1, 0), (0, 0)];

impl Rewriter {
    fn hook_type(&self, i: usize) -> u32 {
        self.layout.types.len() as u32 + i as u32
    }

    /// Whether `ops` (an arm of a branch) only computes: no control flow, stores or calls
    /// other than copies and field operations the graph has nodes for.
    fn computes_only(&self, ops: &[Operator<'_>]) -> bool {
        ops.iter().all(|op| match op {
            Operator::LocalGet { .. }
            | Operator::I32Const { .. }
            | Operator::I32Add
            | Operator::I32Sub
            | Operator::I32Mul
            | Operator::I32Shl
            | Operator::I32Load { .. } => true,
            Operator::Call { function_index } => {
                self.wrapper_of.contains_key(function_index)
                    && self.layout.names.get(function_index).is_some_and(|name| {
                        name == "Fr_copy" || super::Op::of_function(name).is_some()
                    })
            }
            _ => false,
        })
    }

    fn emit(
        &mut self,
        f: &mut wasm_encoder::Function,
        op: Operator<'_>,
    ) -> Result<(), reencode::Error<std::convert::Infallible>> {
        if let Operator::Call { function_index } = op
            && let Some(&wrapper) = self.wrapper_of.get(&function_index)
        {
            f.instruction(&wasm_encoder::Instruction::Call(wrapper));
            return Ok(());
        }
        let instruction = self.instruction(op)?;
        f.instruction(&instruction);
        Ok(())
    }
}

impl Reencode for Rewriter {
    type Error = std::convert::Infallible;

    fn function_index(&mut self, func: u32) -> Result<u32, reencode::Error<Self::Error>> {
        Ok(if func >= self.layout.imported { func + HOOKS.len() as u32 } else { func })
    }

    fn parse_type_section(
        &mut self,
        types: &mut wasm_encoder::TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_type_section(self, types, section)?;
        for (params, results) in HOOK_TYPES {
            types.ty().function(
                vec![wasm_encoder::ValType::I32; params],
                vec![wasm_encoder::ValType::I32; results],
            );
        }
        types.ty().function([wasm_encoder::ValType::I32; 3], []);
        Ok(())
    }

    fn parse_import_section(
        &mut self,
        imports: &mut wasm_encoder::ImportSection,
        section: wasmparser::ImportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_import_section(self, imports, section)?;
        let types = [0, 1, 2, 3, 3, 4];
        for (name, ty) in HOOKS.iter().zip(types) {
            imports.import(MODULE, name, wasm_encoder::EntityType::Function(self.hook_type(ty)));
        }
        Ok(())
    }

    fn parse_function_section(
        &mut self,
        functions: &mut wasm_encoder::FunctionSection,
        section: wasmparser::FunctionSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_function_section(self, functions, section)?;
        for f in &self.layout.wrapped {
            let defined = (f - self.layout.imported) as usize;
            functions.function(self.layout.defined[defined]);
        }
        Ok(())
    }

    fn parse_code_section(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        section: wasmparser::CodeSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_code_section(self, code, section)?;
        use wasm_encoder::Instruction as I;
        for (operation, &f) in self.layout.wrapped.iter().enumerate() {
            let ty = self.layout.type_of(f).cloned().unwrap_or_else(|| FuncType::new([], []));
            let params = ty.params().len() as u32;
            let returns = !ty.results().is_empty();
            let mut body = wasm_encoder::Function::new(if returns {
                vec![(1, wasm_encoder::ValType::I32)]
            } else {
                vec![]
            });
            let arguments = |body: &mut wasm_encoder::Function| {
                body.instruction(&I::I32Const(operation as i32));
                for p in 0..3 {
                    body.instruction(&if p < params { I::LocalGet(p) } else { I::I32Const(0) });
                }
            };
            arguments(&mut body);
            body.instruction(&I::Call(self.layout.hook(0)));
            for p in 0..params {
                body.instruction(&I::LocalGet(p));
            }
            body.instruction(&I::Call(f + HOOKS.len() as u32));
            if returns {
                body.instruction(&I::LocalSet(params));
            }
            arguments(&mut body);
            body.instruction(&if returns { I::LocalGet(params) } else { I::I32Const(0) });
            body.instruction(&I::Call(self.layout.hook(1)));
            if returns {
                body.instruction(&I::LocalGet(params));
            }
            body.instruction(&I::End);
            code.function(&body);
        }
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        use wasm_encoder::Instruction as I;
        let index = self.layout.imported + self.next_body;
        self.next_body += 1;
        if Some(index) == self.layout.inverse {
            code.function(&native_inverse::host_inverse_body(self.layout.hook(5)));
            return Ok(());
        }
        if self.layout.is_field_library(index) {
            return reencode::utils::parse_function_body(self, code, func);
        }
        let mut f = self.new_function_with_parsed_locals(&func)?;
        let ops = func.get_operators_reader()?.into_iter().collect::<Result<Vec<_>, _>>()?;
        let mut i = 0;
        while i < ops.len() {
            // `call Fr_isTrue; if (empty) A [else B] end` with arms that only compute.
            if let (Operator::Call { function_index }, Some(Operator::If { blockty })) =
                (&ops[i], ops.get(i + 1))
                && Some(*function_index) == self.layout.is_true
                && *blockty == wasmparser::BlockType::Empty
            {
                let arm_end = |from: usize| {
                    (from..ops.len()).find(|&k| matches!(ops[k], Operator::Else | Operator::End))
                };
                if let Some(first_end) = arm_end(i + 2) {
                    let (second, end) = match ops[first_end] {
                        Operator::Else => match arm_end(first_end + 1) {
                            Some(end) if matches!(ops[end], Operator::End) => {
                                (first_end + 1..end, end)
                            }
                            _ => (0..0, usize::MAX),
                        },
                        _ => (first_end..first_end, first_end),
                    };
                    if end != usize::MAX
                        && self.computes_only(&ops[i + 2..first_end])
                        && self.computes_only(&ops[second.clone()])
                    {
                        f.instruction(&I::Call(self.layout.hook(2)));
                        for op in ops[i + 2..first_end].iter().cloned() {
                            self.emit(&mut f, op)?;
                        }
                        f.instruction(&I::Call(self.layout.hook(3)));
                        for op in ops[second].iter().cloned() {
                            self.emit(&mut f, op)?;
                        }
                        f.instruction(&I::Call(self.layout.hook(4)));
                        i = end + 1;
                        continue;
                    }
                }
            }
            self.emit(&mut f, ops[i].clone())?;
            i += 1;
        }
        code.function(&f);
        Ok(())
    }

    fn parse_custom_section(
        &mut self,
        module: &mut wasm_encoder::Module,
        section: wasmparser::CustomSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        native_inverse::parse_custom_section_without_names(self, module, section)
    }
}
