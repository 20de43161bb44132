//! Field inversions of circom's witness calculator, done natively.
//!
//! circom's wasm inverts with a Euclidean algorithm on 32-bit words; in our circuits (whose
//! Baby Jubjub point additions each divide once) that is more than half of the witness time.
//! Before compiling the module we replace the body of its `Fr_int_inverseMod(x, m, r)` (the
//! one function every inversion goes through) with a call to an imported host function that
//! computes the same inverse with arkworks. Everything else in the calculator is untouched, and
//! every witness is still checked against the R1CS.
//!
//! The function is found by name in the module's name section, which circom writes; a module
//! without it is left as it is and inverts in wasm.

use crate::inversion::Inverter;
use ark_bn254::Fr;
use ark_ff::{BigInt, PrimeField};
use wasm_encoder::reencode::{self, Reencode};
use wasmer::{FunctionEnvMut, Memory, RuntimeError};

/// The import the patched module calls: `(x, m, r)`, pointers to 32-byte little-endian integers.
pub(crate) const HOST_MODULE: &str = "zkcredits";
pub(crate) const HOST_INVERSE: &str = "inverseModPrime";

/// The calculator's modular inverse, `r = x⁻¹ mod m`, on integers in linear memory.
const TARGET: &str = "Fr_int_inverseMod";

/// Returns the module with its inversions calling [`HOST_INVERSE`], or `None` when the
/// module has no `Fr_int_inverseMod` of the expected type.
pub(crate) fn patch(wasm: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let Some(layout) = Layout::read(wasm)? else { return Ok(None) };
    let mut patcher = Patcher { layout, next_body: 0 };
    let mut module = wasm_encoder::Module::new();
    patcher
        .parse_core_module(&mut module, wasmparser::Parser::new(0), wasm)
        .map_err(|e| format!("cannot rewrite the witness calculator: {e}"))?;
    Ok(Some(module.finish()))
}

/// What the rewrite needs to know about the original module.
struct Layout {
    imported_functions: u32,
    types: u32,
    target: u32,
}

impl Layout {
    fn read(wasm: &[u8]) -> Result<Option<Self>, String> {
        use wasmparser::{Name, NameSectionReader, Payload, TypeRef};
        let (mut imported_functions, mut types, mut target) = (0, 0, None);
        // The host import is appended to the import section; circom's modules always have one.
        let mut has_imports = false;
        let mut function_types = Vec::new();
        let mut signatures = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(wasm) {
            match payload.map_err(|e| e.to_string())? {
                Payload::TypeSection(reader) => {
                    types = reader.count();
                    for ty in reader.into_iter_err_on_gc_types() {
                        signatures.push(ty.map_err(|e| e.to_string())?);
                    }
                }
                Payload::ImportSection(reader) => {
                    has_imports = true;
                    for import in reader.into_imports() {
                        if let TypeRef::Func(_) = import.map_err(|e| e.to_string())?.ty {
                            imported_functions += 1;
                        }
                    }
                }
                Payload::FunctionSection(reader) => {
                    for ty in reader {
                        function_types.push(ty.map_err(|e| e.to_string())?);
                    }
                }
                Payload::CustomSection(section) if section.name() == "name" => {
                    let names = NameSectionReader::new(wasmparser::BinaryReader::new(
                        section.data(),
                        section.data_offset(),
                    ));
                    for name in names {
                        if let Ok(Name::Function(map)) = name {
                            target = map
                                .into_iter()
                                .filter_map(Result::ok)
                                .find(|naming| naming.name == TARGET)
                                .map(|naming| naming.index);
                        }
                    }
                }
                _ => {}
            }
        }
        let Some(target) = target.filter(|_| has_imports) else { return Ok(None) };
        // The target must be a defined function of type (i32, i32, i32) -> ().
        let expected = wasmparser::FuncType::new([wasmparser::ValType::I32; 3], []);
        let defined = target.checked_sub(imported_functions).map(|i| i as usize);
        let signature =
            defined.and_then(|i| function_types.get(i)).and_then(|&ty| signatures.get(ty as usize));
        Ok((signature == Some(&expected)).then_some(Self { imported_functions, types, target }))
    }
}

/// Adds the import (shifting every defined function's index by one) and replaces the body.
struct Patcher {
    layout: Layout,
    /// Index among the defined functions of the next body in the code section.
    next_body: u32,
}

impl Reencode for Patcher {
    type Error = std::convert::Infallible;

    fn function_index(&mut self, func: u32) -> Result<u32, reencode::Error<Self::Error>> {
        Ok(if func >= self.layout.imported_functions { func + 1 } else { func })
    }

    fn parse_type_section(
        &mut self,
        types: &mut wasm_encoder::TypeSection,
        section: wasmparser::TypeSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_type_section(self, types, section)?;
        types.ty().function([wasm_encoder::ValType::I32; 3], []);
        Ok(())
    }

    fn parse_import_section(
        &mut self,
        imports: &mut wasm_encoder::ImportSection,
        section: wasmparser::ImportSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        reencode::utils::parse_import_section(self, imports, section)?;
        imports.import(
            HOST_MODULE,
            HOST_INVERSE,
            wasm_encoder::EntityType::Function(self.layout.types),
        );
        Ok(())
    }

    fn parse_function_body(
        &mut self,
        code: &mut wasm_encoder::CodeSection,
        func: wasmparser::FunctionBody<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        let index = self.layout.imported_functions + self.next_body;
        self.next_body += 1;
        if index != self.layout.target {
            return reencode::utils::parse_function_body(self, code, func);
        }
        code.function(&host_inverse_body(self.layout.imported_functions));
        Ok(())
    }

    fn parse_custom_section(
        &mut self,
        module: &mut wasm_encoder::Module,
        section: wasmparser::CustomSectionReader<'_>,
    ) -> Result<(), reencode::Error<Self::Error>> {
        parse_custom_section_without_names(self, module, section)
    }
}

/// The body of `Fr_int_inverseMod(x, m, r)` that hands its arguments to the host import
/// numbered `import`.
pub(crate) fn host_inverse_body(import: u32) -> wasm_encoder::Function {
    let mut body = wasm_encoder::Function::new([]);
    body.instructions().local_get(0).local_get(1).local_get(2).call(import).end();
    body
}

/// Copies a custom section, except the name section: it is indexed by the old function
/// numbering, so a rewrite that adds imports drops it rather than keep it wrong.
pub(crate) fn parse_custom_section_without_names<R: Reencode + ?Sized>(
    reencoder: &mut R,
    module: &mut wasm_encoder::Module,
    section: wasmparser::CustomSectionReader<'_>,
) -> Result<(), reencode::Error<R::Error>> {
    if section.name() == "name" {
        return Ok(());
    }
    reencode::utils::parse_custom_section(reencoder, module, section)
}

/// The host side of [`HOST_INVERSE`]: reads `x` and `m`, refuses any modulus but the field's
/// prime, and writes `x⁻¹ mod p` (zero for zero) to `r`, which may alias `x`.
pub(crate) fn inverse_mod_prime(
    mut env: FunctionEnvMut<'_, Option<Memory>>,
    x: i32,
    m: i32,
    r: i32,
) -> Result<(), RuntimeError> {
    let (memory, store) = env.data_and_store_mut();
    let memory = memory.as_ref().ok_or_else(|| RuntimeError::new("calculator memory not bound"))?;
    let view = memory.view(&store);
    let address = |p: i32| u64::from(p as u32);
    let (mut value, mut modulus) = ([0u8; 32], [0u8; 32]);
    view.read(address(x), &mut value).map_err(|e| RuntimeError::new(e.to_string()))?;
    view.read(address(m), &mut modulus).map_err(|e| RuntimeError::new(e.to_string()))?;
    if words(&modulus) != <Fr as PrimeField>::MODULUS.0 {
        return Err(RuntimeError::new("the calculator inverted modulo another number than p"));
    }
    let mut x = words(&value);
    if BigInt(x) >= Fr::MODULUS {
        x = Fr::from_le_bytes_mod_order(&value).into_bigint().0;
    }
    let inverse = FR_INVERTER.invert(x).unwrap_or([0; 4]);
    view.write(address(r), &bytes(&inverse)).map_err(|e| RuntimeError::new(e.to_string()))
}

/// Inverts modulo the calculator's prime (arkworks' inversion is several times slower).
const FR_INVERTER: Inverter = Inverter::new(<Fr as PrimeField>::MODULUS.0);

/// Little-endian bytes as little-endian 64-bit words.
fn words(bytes: &[u8; 32]) -> [u64; 4] {
    let mut words = [0u64; 4];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        *word = chunk.iter().rev().fold(0, |acc, &byte| acc << 8 | u64::from(byte));
    }
    words
}

fn bytes(words: &[u64; 4]) -> [u8; 32] {
    let mut bytes = [0u8; 32];
    for (chunk, word) in bytes.chunks_exact_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes());
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use wasm_encoder::{
        CodeSection, EntityType, Function, FunctionSection, ImportSection, Module, NameMap,
        NameSection, TypeSection, ValType,
    };

    /// A module importing one function, then defining one named `name` of `params` → ().
    fn module(name: Option<&str>, params: &[ValType]) -> Vec<u8> {
        let mut types = TypeSection::new();
        types.ty().function(params.iter().copied(), []);
        types.ty().function([ValType::I32], []);
        let mut imports = ImportSection::new();
        imports.import("runtime", "exceptionHandler", EntityType::Function(1));
        let mut functions = FunctionSection::new();
        functions.function(0);
        let mut code = CodeSection::new();
        let mut body = Function::new([]);
        body.instructions().end();
        code.function(&body);
        let mut module = Module::new();
        module.section(&types).section(&imports).section(&functions).section(&code);
        if let Some(name) = name {
            let mut names = NameMap::new();
            names.append(1, name);
            let mut section = NameSection::new();
            section.functions(&names);
            module.section(&section);
        }
        module.finish()
    }

    #[test]
    fn patches_the_named_inverse_and_imports_the_host_function() {
        let patched =
            patch(&module(Some(TARGET), &[ValType::I32; 3])).expect("valid").expect("patched");
        let imports: Vec<_> = wasmparser::Parser::new(0)
            .parse_all(&patched)
            .filter_map(|payload| match payload.expect("valid module") {
                wasmparser::Payload::ImportSection(reader) => Some(reader),
                _ => None,
            })
            .flat_map(|reader| reader.into_imports().map(|i| i.expect("import").name.to_owned()))
            .collect();
        assert_eq!(imports, ["exceptionHandler", HOST_INVERSE]);
        wasmparser::validate(&patched).expect("the patched module validates");
    }

    #[test]
    fn leaves_modules_without_the_function_or_with_another_signature_alone() {
        assert!(patch(&module(None, &[ValType::I32; 3])).expect("valid").is_none());
        assert!(patch(&module(Some("Fr_mul"), &[ValType::I32; 3])).expect("valid").is_none());
        assert!(patch(&module(Some(TARGET), &[ValType::I32; 2])).expect("valid").is_none());
    }
}
