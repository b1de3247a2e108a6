/* fuzz_event.c - libFuzzer target for the Lambda side of the serving path: the event a function
 * instance decodes and runs (an input frame, a hidden-state frame or an OIP v2 JSON request,
 * sf_function_event, on the bundled model with the reference backend) and the function names
 * the Invoke API takes (sf_lambda_names_function: names, qualifiers, ARNs). Any input is run or
 * refused cleanly; an answer is a well-formed result frame or OIP JSON. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "serflow/function.h"
#include "serflow/lambda.h"
#include "serflow/nn.h"
#include "serflow/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct sf_nn_model *model;
static struct sf_nn_runner *runner;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    struct sf_err err = {{0}};
    if (sf_nn_model_load(SF_SOURCE_DIR "/models/fmnist-ee", &model, &err) != SF_OK ||
        sf_nn_runner_new(model, SF_NN_BACKEND_REF, &runner, &err) != SF_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sf_err err = {{0}};
    void *out = NULL;
    size_t out_len = 0;
    int is_json = 0;
    /* a NUL-terminated copy, as the instance's HTTP client gives it */
    char *body = malloc(size + 1);
    if (!body)
        return 0;
    memcpy(body, data, size);
    body[size] = '\0';
    if (sf_function_event(runner, model, body, size, 0.5, &out, &out_len, &is_json, &err) ==
        SF_OK) {
        struct sf_serve_result *r;
        size_t n;
        if (!is_json && sf_frame_result_decode(out, out_len, sf_nn_model_num_classes(model),
                                               SF_SERVE_MAX_BATCH, &r, &n, &err) != SF_OK)
            abort(); /* the answer of a function must decode at the caller */
        if (!is_json)
            free(r);
        free(out);
    }
    sf_lambda_names_function(body, "fmnist-ee");
    free(body);
    return 0;
}
