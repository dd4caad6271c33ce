// Dumps the graph llama.cpp reserves for its worst-case micro-batch (the one whose ggml-alloc peak is the
// compute buffer): one line per leaf and per node, in graph order, with op, type, shape, byte strides,
// view source and sources. Used to check memfit's own graph description and allocator replay
// (memory/runtimes/llamacpp_graph*.py) against real llama.cpp; see tools/measure_llamacpp.py.
// Build like tools/llamacpp_probe.cpp, adding -ILLAMA_SRC/ggml/src (for the ggml_cgraph layout).
#include "llama.h"
#include "llama-ext.h"
#include "ggml.h"
#include "ggml-backend.h"
#include "ggml-impl.h"
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

static ggml_type kv_type(const char * s) {
    if (!strcmp(s, "f16")) return GGML_TYPE_F16;
    if (!strcmp(s, "q8_0")) return GGML_TYPE_Q8_0;
    if (!strcmp(s, "q4_0")) return GGML_TYPE_Q4_0;
    fprintf(stderr, "unknown cache type %s\n", s);
    exit(2);
}

int main(int argc, char ** argv) {
    if (argc != 11 && argc != 12) {
        fprintf(stderr, "usage: %s MODEL N_CTX N_BATCH N_UBATCH N_SEQ FLASH_ATTN TYPE_K TYPE_V SWA_FULL KV_UNIFIED [N_OUTPUTS_MAX]\n", argv[0]);
        return 2;
    }
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.use_extra_bufts = false;
    mp.no_alloc = true;
    mp.load_mode = LLAMA_LOAD_MODE_NONE;
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "DUMP: model load failed\n"); return 1; }
    llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t) atoi(argv[2]);
    cp.n_batch = (uint32_t) atoi(argv[3]);
    cp.n_ubatch = (uint32_t) atoi(argv[4]);
    cp.n_seq_max = (uint32_t) atoi(argv[5]);
    cp.flash_attn_type = atoi(argv[6]) ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.type_k = kv_type(argv[7]);
    cp.type_v = kv_type(argv[8]);
    cp.swa_full = atoi(argv[9]) != 0;
    cp.kv_unified = atoi(argv[10]) != 0;
    if (argc == 12) cp.n_outputs_max = (uint32_t) atoi(argv[11]);  // a draft context: one output per sequence
    cp.n_threads = 1;
    cp.n_threads_batch = 1;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "DUMP: context failed\n"); return 1; }
    for (const auto & [buft, mb] : llama_get_memory_breakdown(ctx)) {
        printf("MB %s %zu %zu %zu\n", ggml_backend_buft_name(buft), mb.model, mb.context, mb.compute);
    }
    const uint32_t n_tokens = std::min(llama_n_ctx(ctx), llama_n_ubatch(ctx));
    const uint32_t n_outputs = std::min(n_tokens, argc == 12 ? (uint32_t) atoi(argv[11]) : llama_n_batch(ctx));
    ggml_cgraph * gf = llama_graph_reserve(ctx, n_tokens, cp.n_seq_max, n_outputs);
    std::map<const ggml_tensor *, int> id;
    auto line = [&](const char * kind, const ggml_tensor * t) {
        const int me = (int) id.size();
        id[t] = me;
        printf("%s %d %s %s %s %lld,%lld,%lld,%lld %zu,%zu,%zu,%zu flags=%d ext=%d view=%d:%zu src=", kind, me,
               t->name[0] ? t->name : "-", ggml_op_desc(t), ggml_type_name(t->type),
               (long long) t->ne[0], (long long) t->ne[1], (long long) t->ne[2], (long long) t->ne[3],
               t->nb[0], t->nb[1], t->nb[2], t->nb[3], t->flags, t->buffer != nullptr || t->data != nullptr,
               t->view_src ? (id.count(t->view_src) ? id[t->view_src] : -2) : -1, t->view_offs);
        for (int j = 0; j < GGML_MAX_SRC; j++) {
            if (t->src[j]) printf("%d,", id.count(t->src[j]) ? id[t->src[j]] : -2);
        }
        printf("\n");
    };
    for (int i = 0; i < gf->n_leafs; i++) line("L", gf->leafs[i]);
    for (int i = 0; i < gf->n_nodes; i++) line("N", gf->nodes[i]);
    fprintf(stderr, "DUMP: ok\n");
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
