/*
 * evcore_jobs.c - the worker pool of the event core: one FIFO of jobs (jlock), N workers;
 * a finished job goes on its loop's completion list (done_lock) and the loop's eventfd
 * wakes it, so on_job_done always runs on the connection's own loop thread. A connection
 * closed while its job runs stays allocated until the completion (c->jobs), so a worker
 * never points at freed memory. Lock order: jlock and done_lock are never held together.
 */
#include <unistd.h>

#include "core/alloc.h"

#include "server/evcore_internal.h"

static void complete_one(mr_ev_job_t *j)
{
    mr_ev_conn_t *c = j->conn;
    mr_ev_core_t *core = c->loop->core;
    c->jobs--;
    c->listener->spec.ops->on_job_done(c, j);
    atomic_fetch_sub(&core->jobs_running, 1); /* a closed connection is swept by its loop */
}

static void *worker_main(void *arg)
{
    mr_ev_core_t *core = arg;
    for (;;) {
        pthread_mutex_lock(&core->jlock);
        while (core->jhead == NULL && !core->jquit)
            pthread_cond_wait(&core->jcond, &core->jlock);
        mr_ev_job_t *j = core->jhead;
        if (j == NULL) { /* quit and the queue is empty */
            pthread_mutex_unlock(&core->jlock);
            return NULL;
        }
        core->jhead = j->next;
        if (core->jhead == NULL)
            core->jtail = NULL;
        pthread_mutex_unlock(&core->jlock);
        j->run(j);
        mr_ev_loop_t *l = j->conn->loop;
        pthread_mutex_lock(&l->done_lock);
        j->next = l->done;
        l->done = j;
        pthread_mutex_unlock(&l->done_lock);
        uint64_t one = 1;
        ssize_t w = write(l->evfd, &one, sizeof(one));
        (void)w;
    }
}

void mr_ev_submit(mr_ev_conn_t *c, mr_ev_job_t *j)
{
    mr_ev_core_t *core = c->loop->core;
    j->conn = c;
    j->next = NULL;
    c->jobs++;
    atomic_fetch_add(&core->jobs_running, 1);
    if (core->detached) { /* inline; completed by the driver after this callback returns */
        j->run(j);
        mr_ev_loop_t *l = c->loop;
        mr_ev_job_t **tail = &l->done;
        while (*tail)
            tail = &(*tail)->next;
        *tail = j;
        return;
    }
    pthread_mutex_lock(&core->jlock);
    if (core->jtail)
        core->jtail->next = j;
    else
        core->jhead = j;
    core->jtail = j;
    pthread_cond_signal(&core->jcond);
    pthread_mutex_unlock(&core->jlock);
}

void mr_ev_jobs_complete(mr_ev_loop_t *l)
{
    pthread_mutex_lock(&l->done_lock);
    mr_ev_job_t *j = l->done;
    l->done = NULL;
    pthread_mutex_unlock(&l->done_lock);
    if (!l->core->detached) { /* workers push at the head: reverse to completion order */
        mr_ev_job_t *rev = NULL;
        while (j) {
            mr_ev_job_t *n = j->next;
            j->next = rev;
            rev = j;
            j = n;
        }
        j = rev;
    }
    while (j) {
        mr_ev_job_t *n = j->next;
        complete_one(j);
        j = n;
    }
}

void mr_ev_jobs_start(mr_ev_core_t *core)
{
    core->workers = mr_xcalloc((size_t)core->nworkers, sizeof(pthread_t));
    for (int i = 0; i < core->nworkers; i++)
        pthread_create(&core->workers[i], NULL, worker_main, core);
}

void mr_ev_jobs_stop(mr_ev_core_t *core)
{
    pthread_mutex_lock(&core->jlock);
    core->jquit = true;
    pthread_cond_broadcast(&core->jcond);
    pthread_mutex_unlock(&core->jlock);
    for (int i = 0; i < core->nworkers && core->workers; i++)
        pthread_join(core->workers[i], NULL);
    mr_free(core->workers);
    core->workers = NULL;
}
