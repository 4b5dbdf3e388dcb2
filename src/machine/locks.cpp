// Page-table locks: the PMD lock and the split PTE locks (or mm->page_table_lock for both when
// ptlocks are not split, USE_SPLIT_PTE_PTLOCKS=n), with lockdep's rules reduced to what our flows
// can break: deadlock on a held lock, recursion within a lock class without a nesting
// subclass, unlock of a lock not held, and the lockdep_assert_held() preconditions of the API.
#include "machine/machine.hpp"
#include "pgtable/format.hpp"

#include <algorithm>

namespace mmfuzz {

namespace {

/// lockdep class of a lock: mm->page_table_lock, the PMD ptlock, or a PTE ptlock.
enum class lock_class : std::uint8_t { mm, pmd, pte };

} // namespace

spinlock_t machine::pmd_lockptr() const {
    return opts_.split_ptlocks ? spinlock_t{root_pfn} : spinlock_t{0};
}

spinlock_t machine::pte_lockptr(pgtable_t table) const {
    return opts_.split_ptlocks ? spinlock_t{table.pfn} : spinlock_t{0};
}

/// spin_lock_nested(): lockdep reports a second lock of the same class at the same subclass as
/// possible recursive locking (kernel/locking/lockdep.c check_deadlock()), and a held lock as a
/// deadlock — which is what happens when split ptlocks are off and a flow takes the PTE lock
/// under the PMD lock without the `pte_ptl != pmd_ptl` guard.
void machine::spin_lock_nested(spinlock_t lock, unsigned subclass) {
    const auto class_of = [](spinlock_t l) {
        return l.id == 0 ? lock_class::mm : l.id == root_pfn ? lock_class::pmd : lock_class::pte;
    };
    for (std::size_t i = 0; i < held_.size(); ++i) {
        if (held_[i] == lock) {
            report(violation_id::LOCK,
                   "spin_lock of lock " + hex(lock.id) + " that is already held (deadlock)");
            return;
        }
        if (class_of(held_[i]) == class_of(lock) && held_subclass_[i] == subclass) {
            report(violation_id::LOCK, "lock " + hex(lock.id) + " taken while lock " +
                                           hex(held_[i].id) +
                                           " of the same class is held, without a nesting "
                                           "subclass (possible recursive locking)");
            return;
        }
    }
    held_.push_back(lock);
    held_subclass_.push_back(static_cast<std::uint8_t>(subclass));
}

void machine::spin_unlock(spinlock_t lock) {
    const auto it = std::find(held_.begin(), held_.end(), lock);
    if (it == held_.end()) {
        report(violation_id::LOCK, "spin_unlock of lock " + hex(lock.id) + " that is not held");
        return;
    }
    held_subclass_.erase(held_subclass_.begin() + (it - held_.begin()));
    held_.erase(it);
}

bool machine::spin_is_locked(spinlock_t lock) const {
    return std::find(held_.begin(), held_.end(), lock) != held_.end();
}

void machine::assert_ptl_held(hw_ptep ptep, std::string_view call) {
    const pgtable_t t = table_of(ptep);
    if (!spin_is_locked(pte_lockptr(t)))
        report(violation_id::LOCK,
               std::string(call) + " without the PTE lock of table " + hex(t.pfn));
}

void machine::assert_pmd_lock_held(std::string_view call) {
    if (!spin_is_locked(pmd_lockptr()))
        report(violation_id::LOCK, std::string(call) + " without the PMD lock");
}

void machine::assert_lock_held(spinlock_t lock, std::string_view call) {
    if (!spin_is_locked(lock))
        report(violation_id::LOCK, std::string(call) + " without lock " + hex(lock.id));
}

void machine::check_locks_released(std::string_view where) {
    if (held_.empty())
        return;
    std::string d =
        std::to_string(held_.size()) + " lock(s) still held at " + std::string(where) + ":";
    for (const spinlock_t l : held_)
        d += " " + hex(l.id);
    report(violation_id::LOCK, std::move(d));
}

} // namespace mmfuzz
