#define _GNU_SOURCE
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "callhook_threads.h"

int callhook_current_cpu(void) { return sched_getcpu(); }

int callhook_thread_id(void) { return (int)syscall(SYS_gettid); }

int callhook_allowed_cpu_count(void) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
    return CPU_COUNT(&set);
}

int callhook_make_current_thread_idle(void) {
    struct sched_param param = {0};
    // Linux: pid 0 is the calling thread, not the whole process.
    return sched_setscheduler(0, SCHED_IDLE, &param);
}

int callhook_current_thread_is_idle(void) { return sched_getscheduler(0) == SCHED_IDLE; }

int callhook_keep_thread_off_cpu(int tid, int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0) return -1;
    if (cpu >= 0 && cpu < CPU_SETSIZE) CPU_CLR(cpu, &set);
    if (CPU_COUNT(&set) == 0) return -1;
    return sched_setaffinity(tid, sizeof set, &set);
}
