// Misuse of the handle API that the type system must reject in strict mode. Each CF_* case is
// compiled on its own and must fail with the named diagnostic; with no case defined the file
// must compile, so a case cannot fail for an unrelated reason.
#include "arch/generic/generic.hpp"

using namespace mmfuzz;

void use(generic_pgtable &ops, machine &m, hw_ptep ptep, staged_ptep staged) {
    mm_struct *mm = &m.mm;
    const std::uint64_t addr = m.window_start();
    pte_t on_stack = ops.ptep_get(ptep);
    ops.set_pte_at(mm, addr, ptep, on_stack);
    ops.set_ptes(mm, addr, staged, on_stack, 1);
#ifdef CF_DEREF
    on_stack = *ptep; // a live entry is read through ptep_get(), never dereferenced
#endif
#ifdef CF_RAW_POINTER
    ops.set_pte_at(mm, addr, &on_stack, on_stack); // a stack copy is not a hardware entry
#endif
#ifdef CF_STAGED_AS_LIVE
    ops.set_pte_at(mm, addr, staged, on_stack); // a staged table is not live until pmd_populate
#endif
#ifdef CF_CONSTRUCT
    hw_ptep forged(&on_stack); // handles are made by the machine only
    (void)forged;
#endif
}
