// Loads a GGUF file with llama.cpp and creates one context, so that llama.cpp prints the sizes of
// the buffers it allocates (model, KV, compute, output). Nothing is evaluated. Used by
// tools/measure_llamacpp.py; build instructions are in that tool's docstring.
#include "llama.h"
#include "llama-ext.h"  // llama_get_memory_breakdown (src/llama-ext.h of the same llama.cpp tree)
#include "ggml-backend.h"
#include <cstdio>
#include <cstdlib>
#include <cstring>

static ggml_type kv_type(const char * s) {
    if (!strcmp(s, "f16")) return GGML_TYPE_F16;
    if (!strcmp(s, "bf16")) return GGML_TYPE_BF16;
    if (!strcmp(s, "f32")) return GGML_TYPE_F32;
    if (!strcmp(s, "q8_0")) return GGML_TYPE_Q8_0;
    if (!strcmp(s, "q4_0")) return GGML_TYPE_Q4_0;
    if (!strcmp(s, "q5_1")) return GGML_TYPE_Q5_1;
    fprintf(stderr, "unknown cache type %s\n", s);
    exit(2);
}

int main(int argc, char ** argv) {
    if (argc != 12) {
        fprintf(stderr, "usage: %s MODEL N_CTX N_BATCH N_UBATCH N_SEQ FLASH_ATTN(0|1) TYPE_K TYPE_V SWA_FULL(0|1) KV_UNIFIED(0|1) NO_ALLOC(0|1)\n", argv[0]);
        return 2;
    }
    llama_backend_init();
    llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = 0;
    mp.use_extra_bufts = false;  // no CPU repacking: the buffer a GPU build would hold
    mp.no_alloc = atoi(argv[11]) != 0;  // sizes as llama.cpp reserves them, nothing allocated
    mp.load_mode = LLAMA_LOAD_MODE_NONE;  // read into backend buffers (with no_alloc: nothing is read)
    llama_model * model = llama_model_load_from_file(argv[1], mp);
    if (!model) { fprintf(stderr, "PROBE: model load failed\n"); return 1; }
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
    cp.n_threads = 1;
    cp.n_threads_batch = 1;
    llama_context * ctx = llama_init_from_model(model, cp);
    if (!ctx) { fprintf(stderr, "PROBE: context failed\n"); return 1; }
    for (const auto & [buft, mb] : llama_get_memory_breakdown(ctx)) {
        fprintf(stderr, "PROBE_MB %s model=%zu context=%zu compute=%zu\n", ggml_backend_buft_name(buft), mb.model, mb.context, mb.compute);
    }
    fprintf(stderr, "PROBE: ok\n");
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}
