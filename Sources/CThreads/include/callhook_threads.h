#ifndef CALLHOOK_THREADS_H
#define CALLHOOK_THREADS_H
// The GNU scheduling calls Swift's Glibc module leaves out (sched_getcpu, thread affinity, SCHED_IDLE), for
// `TransferThread.keepOffCurrentCPU` and the store's checkpoints.

/// The CPU the calling thread runs on, or -1.
int callhook_current_cpu(void);
/// The calling thread's kernel id.
int callhook_thread_id(void);
/// How many CPUs the process may run on (its affinity as it is now), or 0 if unknown.
int callhook_allowed_cpu_count(void);
/// Lets thread `tid` run on every CPU the process may run on except `cpu`. Returns 0, or -1 with errno.
int callhook_keep_thread_off_cpu(int tid, int cpu);
/// Puts the calling thread in the `SCHED_IDLE` class: it runs only when no other thread wants the CPU, and any
/// other thread that wakes takes the CPU from it at once. Returns 0, or -1 with errno.
int callhook_make_current_thread_idle(void);
/// Whether the calling thread is in the `SCHED_IDLE` class.
int callhook_current_thread_is_idle(void);

#endif
