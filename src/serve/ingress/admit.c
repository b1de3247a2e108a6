/*
 * admit.c - the ingress's requests from admission to answer: a table of admitted images found
 * by the low bits of their random ids, a free list, the unanswered in admission order (which is
 * deadline order: every image gets the same deadline after its admission), delivery of results
 * by id, and expiry. Exactly one answer per admitted image, by its deadline at the latest: a
 * result for an id no longer waiting (answered, expired, or a slot reused since: the random high
 * bits differ) is dropped and counted. A request whose every image is answered goes to the list
 * of answers, which whoever releases the lock next writes (sf__server_unlock): no thread waits
 * for an answer, and none is woken to write one.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

int sf__table_init(struct sf__server *s, struct sf_err *err)
{
    const struct sf_serve_cfg *c = s->cfg;
    /* every admitted, unanswered image holds a slot: the queue, plus a batch on every instance
     * and function dispatcher (and one more of each waiting to be taken) */
    size_t cap = s->q_cap +
                 2 * (size_t)c->bind->env.ctl.batch_size *
                     (SF_CLOUD_MAX_INSTANCES + (size_t)c->fn_dispatchers) +
                 (size_t)c->max_images;
    if (cap > SF__ID_SLOT_MASK)
        return sf_err_set(err, SF_EINVAL, "--queue-cap: %zu slots exceed %u", cap,
                          SF__ID_SLOT_MASK);
    s->table = calloc(cap, sizeof(*s->table));
    if (!s->table)
        return sf_err_set(err, SF_ENOMEM, "out of memory for %zu request slots", cap);
    s->table_cap = cap;
    for (size_t i = 0; i < cap; i++)
        s->table[i].next_free = i + 1 < cap ? (uint32_t)(i + 1) : UINT32_MAX;
    s->free_head = 0;
    s->n_free = cap;
    struct sf__series *h = &s->series;
    h->accepted = h->latency = h->slo_ok = h->slo_all = SF__NO_SERIES;
    for (size_t i = 0; i < SF_ARRAY_LEN(h->answered); i++)
        h->answered[i] = SF__NO_SERIES;
    for (size_t i = 0; i < SF_ARRAY_LEN(h->stage); i++)
        h->stage[i] = SF__NO_SERIES;
    for (size_t i = 0; i < SF_ARRAY_LEN(h->where); i++)
        h->where[i] = SF__NO_SERIES;
    return SF_OK;
}

static struct sf__item *take_slot(struct sf__server *s)
{
    uint32_t i = s->free_head;
    struct sf__item *it = &s->table[i];
    s->free_head = it->next_free;
    s->n_free--;
    uint64_t hi = 0;
    while (!hi) { /* 40 random bits, never 0, from the CSPRNG in draws of a few hundred bytes */
        if (!s->rnd_left) {
            if (sf_auth_random(s->rnd, sizeof(s->rnd)) != SF_OK)
                memset(s->rnd, 0, sizeof(s->rnd)); /* getrandom cannot fail once seeded */
            s->rnd_left = SF_ARRAY_LEN(s->rnd);
        }
        hi = s->rnd[--s->rnd_left] >> SF__ID_SLOT_BITS;
        s->rnd[s->rnd_left] = 0; /* a value drawn is never kept */
        if (!hi)
            hi = sf_auth_random_u64() >> SF__ID_SLOT_BITS;
    }
    memset(it, 0, sizeof(*it));
    it->id = hi << SF__ID_SLOT_BITS | i;
    return it;
}

static void free_slot(struct sf__server *s, struct sf__item *it)
{
    /* out of the deadline list */
    if (it->older)
        it->older->newer = it->newer;
    else
        s->oldest = it->newer;
    if (it->newer)
        it->newer->older = it->older;
    else
        s->newest = it->older;
    it->id = 0;
    it->owner = NULL;
    it->older = it->newer = NULL;
    it->next_free = s->free_head;
    s->free_head = (uint32_t)(it - s->table);
    s->n_free++;
    s->unanswered--;
}

/* A series' handle, looked up once (mu held): the per-image counters skip the registry's search.
 * Created on first use, as sf_metrics_add would. */
static int series(struct sf__server *s, int *cache, int family, const char *labels)
{
    if (*cache == SF__NO_SERIES)
        *cache = sf_metrics_series(s->metrics, family, labels);
    return *cache;
}

static void count_result(struct sf__server *s, const struct sf__item *it,
                         const struct sf_serve_result *r, double now)
{
    char lab[64] = "";
    static const char *const outcome[] = {"outcome=\"ok\"", "outcome=\"failed\"",
                                          "outcome=\"refused\"", "outcome=\"deadline\""};
    struct sf__series *h = &s->series;
    int st = r->status >= 0 && r->status <= SF_RESULT_DEADLINE ? r->status : SF_RESULT_FAILED;
    sf_metrics_add_at(s->metrics, series(s, &h->answered[st], s->mid.answered, outcome[st]), 1);
    double lat = now - it->arrival_s;
    sf_metrics_observe_at(s->metrics, series(s, &h->latency, s->mid.latency, ""), lat);
    sf_metrics_add_at(s->metrics, series(s, &h->slo_all, s->mid.slo_all, ""), 1);
    if (r->status)
        return;
    if (lat <= s->cfg->bind->env.ctl.epoch_s)
        sf_metrics_add_at(s->metrics, series(s, &h->slo_ok, s->mid.slo_ok, ""), 1);
    int e = r->exit_stage >= 0 && r->exit_stage <= SF_MAX_STAGES ? r->exit_stage : 0;
    if (h->stage[e] == SF__NO_SERIES) /* the label only for the first lookup */
        snprintf(lab, sizeof(lab), "stage=\"%d\"", e);
    sf_metrics_add_at(s->metrics, series(s, &h->stage[e], s->mid.exit_stage, lab), 1);
    int w = r->cut == 0 ? 0 : r->exit_stage <= r->cut ? 1 : 2;
    static const char *const where[] = {"where=\"function\"", "where=\"vm\"",
                                        "where=\"vm+function\""};
    sf_metrics_add_at(s->metrics, series(s, &h->where[w], s->mid.where, where[w]), 1);
}

/* The item waiting for id, or NULL. */
static struct sf__item *lookup(struct sf__server *s, uint64_t id)
{
    size_t slot = (size_t)(id & SF__ID_SLOT_MASK);
    if (!id || slot >= s->table_cap || s->table[slot].id != id || !s->table[slot].owner)
        return NULL;
    return &s->table[slot];
}

/* Stores one answer (mu held). */
static void answer(struct sf__server *s, struct sf__item *it, const struct sf_serve_result *r,
                   double now)
{
    struct sf__pending *p = it->owner;
    p->res[it->idx] = *r;
    p->res[it->idx].id = it->id;
    if (r->status == SF_RESULT_FAILED)
        p->failed = 1;
    else if (r->status == SF_RESULT_REFUSED && !p->refused)
        p->refused = it->idx + 1;
    else if (r->status == SF_RESULT_DEADLINE)
        p->expired = 1;
    count_result(s, it, r, now);
    free_slot(s, it);
    if (++p->answered == p->n) { /* whoever releases mu writes the answer */
        p->next = s->done;
        s->done = p;
    }
}

static void deliver_one(struct sf__server *s, const struct sf_serve_result *r, double now)
{
    struct sf__item *it = lookup(s, r->id);
    if (!it || it->queued) {
        /* answered already (a late duplicate), past its deadline, or never sent out */
        sf_metrics_add(s->metrics, s->mid.dropped, "", 1);
        return;
    }
    answer(s, it, r, now);
}

void sf__server_deliver(struct sf__server *s, const struct sf_serve_result *r, size_t n)
{
    double now = sf__server_now(s);
    for (size_t i = 0; i < n; i++)
        deliver_one(s, &r[i], now);
}

void sf__server_fail_batch(struct sf__server *s, const struct sf__batch *b)
{
    double now = sf__server_now(s);
    for (size_t i = 0; i < b->n; i++) {
        struct sf_serve_result r;
        memset(&r, 0, sizeof(r));
        r.id = b->ids[i];
        r.status = SF_RESULT_FAILED;
        r.label = -1;
        r.num_classes = s->num_classes;
        deliver_one(s, &r, now);
    }
}

/* Takes a queued item out of the admission queue (mu held): it is the queue's head unless
 * something else is broken, so the general case is a shift. The control loop's batcher is told
 * (its queue is the same, numbered by admission sequence). */
static void unqueue(struct sf__server *s, struct sf__item *it)
{
    if (s->q_len && s->queue[s->q_head] == it) {
        s->q_head = (s->q_head + 1) % s->q_cap;
        s->q_len--;
        s->q_head_seq++;
        sf__control_dropped(s, 1);
    } else {
        size_t k = 0;
        while (k < s->q_len && s->queue[(s->q_head + k) % s->q_cap] != it)
            k++;
        for (; k + 1 < s->q_len; k++)
            s->queue[(s->q_head + k) % s->q_cap] = s->queue[(s->q_head + k + 1) % s->q_cap];
        if (k < s->q_len) {
            s->q_len--;
            sf__control_dropped(s, 0);
        }
    }
    it->queued = 0;
}

void sf__server_expire(struct sf__server *s, double now_s)
{
    while (s->oldest && s->oldest->deadline_s <= now_s) {
        struct sf__item *it = s->oldest;
        if (it->queued)
            unqueue(s, it);
        struct sf_serve_result r;
        memset(&r, 0, sizeof(r));
        r.id = it->id;
        r.status = SF_RESULT_DEADLINE;
        r.label = -1;
        r.num_classes = s->num_classes;
        answer(s, it, &r, now_s); /* its batch's late result is dropped: the slot is free */
    }
}

int sf__server_admit(struct sf__server *s, struct sf__pending *p, int *retry_after_s)
{
    if (s->draining || *s->stop) {
        sf_metrics_add(s->metrics, s->mid.rejected, "reason=\"draining\"", (double)p->n);
        *retry_after_s = 1;
        return 503;
    }
    if (p->n > s->q_cap) /* can never fit (the CLI refuses --max-images above --queue-cap) */
        return 413;
    /* every image needs a queue place and a slot */
    if (s->q_len + p->n > s->q_cap || s->n_free < p->n) {
        sf_metrics_add(s->metrics, s->mid.rejected, "reason=\"queue_full\"", (double)p->n);
        /* the queue drains within about one SLO interval */
        *retry_after_s = (int)ceil(s->cfg->bind->env.ctl.epoch_s);
        return 503;
    }
    double now = sf__server_now(s);
    p->deadline_s = now + s->deadline_s;
    sf_metrics_add_at(s->metrics, series(s, &s->series.accepted, s->mid.accepted, ""),
                      (double)p->n);
    for (size_t i = 0; i < p->n; i++) {
        struct sf__item *it = take_slot(s);
        it->arrival_s = now;
        it->deadline_s = p->deadline_s;
        it->owner = p;
        it->idx = i;
        it->queued = 1;
        it->older = s->newest;
        if (s->newest)
            s->newest->newer = it;
        else
            s->oldest = it;
        s->newest = it;
        int64_t seq = s->q_head_seq + (int64_t)s->q_len;
        s->queue[(s->q_head + s->q_len) % s->q_cap] = it;
        s->q_len++;
        s->unanswered++;
        sf__control_enqueued(s, seq); /* the deadline batcher takes it at once */
    }
    sf__control_arrived(s, now);
    return 0;
}

void sf__pending_free(struct sf__pending *p)
{
    if (!p)
        return;
    free(p->res);
    sf_oip_request_fini(&p->oip);
    free(p->decoded);
    free(p);
}

/* Where the answered images ran, as the access log says it: each image's path (vm: stages on a
 * VM only; function: on functions only; hybrid: both), the distinct ones joined. */
static void route_of(const struct sf_serve_result *r, size_t n, struct sf__access *acc)
{
    static const char *const names[] = {"vm", "hybrid", "function"};
    int seen[3] = {0};
    for (size_t i = 0; i < n; i++)
        seen[r[i].cut == 0 ? 2 : r[i].exit_stage <= r[i].cut ? 0 : 1] = 1;
    acc->route_buf[0] = '\0';
    for (int k = 0; k < 3; k++)
        if (seen[k]) {
            size_t l = strlen(acc->route_buf);
            snprintf(acc->route_buf + l, sizeof(acc->route_buf) - l, "%s%s", l ? "," : "",
                     names[k]);
        }
    acc->route = acc->route_buf[0] ? acc->route_buf : "none";
}

void sf__pending_answer(struct sf__server *s, struct sf__pending *p)
{
    struct sf__httpd_resp resp;
    memset(&resp, 0, sizeof(resp));
    if (p->expired) {
        sf__httpd_error(&resp, 504, "deadline: not answered within %.3g s of admission",
                        s->deadline_s);
    } else if (p->failed) {
        sf__httpd_error(&resp, 502,
                        "inference failed: the function path failed twice (crash or "
                        "timeout) for this request");
    } else if (p->refused) {
        sf__httpd_error(&resp, 422,
                        "image %zu: the model's outputs are not finite (its values are outside "
                        "what the model handles)",
                        p->refused - 1);
    } else {
        char *out = NULL;
        size_t out_len = 0, jl = 0;
        route_of(p->res, p->n, &p->acc);
        if (sf_oip_response(sf_nn_model_name(s->model), SF_OIP_MODEL_VERSION, p->oip.id, &p->oip,
                            p->res, p->n, &out, &out_len, &jl) != SF_OK) {
            sf__httpd_error(&resp, 500, "could not build the answer");
        } else if (jl == out_len) {
            sf__httpd_json(&resp, 200, out);
        } else { /* the binary tensor extension: the JSON header, then the outputs' bytes */
            char v[32];
            snprintf(v, sizeof(v), "%zu", jl);
            sf__httpd_header(&resp, "Inference-Header-Content-Length", v);
            resp.status = 200;
            resp.body = out;
            resp.len = out_len;
            resp.content_type = "application/octet-stream";
        }
    }
    sf__ingress_respond(s, p->req, &resp, &p->acc);
    sf__pending_free(p);
}

/* The outbox handed to this loop by another (sf__server_unlock). */
static void outbox_posted(void *arg)
{
    struct sf__server *s = arg;
    pthread_mutex_lock(&s->mu);
    s->outbox_posted = 0;
    sf__server_unlock(s);
}

/* 1 when this event loop leaves the outbox's next in-process batch to the next loop (mu held):
 * it ran one in this call already. Its connections are not read while it runs a batch, and an
 * instance freed takes the next batch at once: a loop that went on running them would starve
 * its own connections for as long as the other loop keeps the queue full (chains of a hundred
 * batches, 40 ms, were measured under wrk). The next loop runs it after its own round of reads;
 * the control thread, which holds no connection, runs what it finds. */
static int hand_on(struct sf__server *s, int loop, int ran_local)
{
    if (loop < 0 || !ran_local || !s->n_outbox || !s->inst[s->outbox[0]].local)
        return 0;
    if (s->outbox_posted)
        return 1;
    int next = (loop + 1) % sf__ev_loops(s->ev);
    if (sf__ev_post(s->ev, next, outbox_posted, s) != SF_OK)
        return 0; /* no memory for the post: run it here */
    s->outbox_posted = 1;
    return 1;
}

void sf__server_unlock(struct sf__server *s)
{
    int loop = sf__ev_self(s->ev), ran_local = 0;
    for (;;) {
        struct sf__pending *done = s->done;
        s->done = NULL;
        int i = -1;
        if (s->n_outbox && !hand_on(s, loop, ran_local)) {
            i = s->outbox[0];
            memmove(s->outbox, s->outbox + 1, (size_t)(--s->n_outbox) * sizeof(int));
            s->inst[i].in_outbox = 0;
            ran_local |= s->inst[i].local != NULL; /* this thread runs it, below */
        }
        if (!done && i < 0)
            break;
        pthread_mutex_unlock(&s->mu);
        while (done) {
            struct sf__pending *p = done;
            done = p->next;
            sf__pending_answer(s, p);
        }
        /* an in-process instance returns here with mu held, its results delivered */
        if (i < 0 || !sf__inst_send(s, i))
            pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
}
