// The one place a handle is opened or made. Included by the machine's own sources only:
// core flows and implementations reach entries through the machine's accessors.
#pragma once

#include "pgtable/handle.hpp"

namespace mmfuzz {

struct handle_access {
#ifdef MMFUZZ_HANDLE_ALIAS
    static pte_t *ptr(hw_ptep p) {
        return p;
    }
    static hw_ptep make_pte(pte_t *p) {
        return p;
    }
    static pmd_t *ptr(hw_pmdp p) {
        return p;
    }
    static hw_pmdp make_pmd(pmd_t *p) {
        return p;
    }
#else
    static pte_t *ptr(hw_ptep p) {
        return p.ptr_;
    }
    static hw_ptep make_pte(pte_t *p) {
        return hw_ptep(p);
    }
    static pmd_t *ptr(hw_pmdp p) {
        return p.ptr_;
    }
    static hw_pmdp make_pmd(pmd_t *p) {
        return hw_pmdp(p);
    }
#endif
    static pte_t *ptr(staged_ptep p) {
        return p.ptr_;
    }
    static staged_ptep make_staged(pte_t *p) {
        return staged_ptep(p);
    }
};

} // namespace mmfuzz
