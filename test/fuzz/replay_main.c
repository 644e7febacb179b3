/*
 * replay_main.c: a main() for the libFuzzer harnesses without libFuzzer, so `make test` replays
 * every committed corpus with the ordinary compiler and flags (the way mod_auth_openidc replays
 * its fuzz corpora in `make check`).
 *
 *   fuzz_NAME-replay DIR_OR_FILE...
 *
 * Each regular file is read whole and handed to LLVMFuzzerTestOneInput once, in name order so a
 * failure is reproducible. A harness reports a broken invariant by aborting; the crash ends the
 * process, so the exit status (or the signal) is the verdict, and the signal handler names the
 * input that was running, which a plain core dump would not.
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The input being run, for the crash message (read by the signal handler only). */
static const char *volatile current_input;

static void write_str(const char *s)
{
    ssize_t ignored = write(STDERR_FILENO, s, strlen(s));
    (void) ignored;
}

/* Async-signal-safe: name the input, then die of the same signal so the caller sees it. */
static void on_crash(int sig)
{
    write_str("replay: crashed on ");
    write_str(current_input ? current_input : "(no input)");
    write_str("\n");
    signal(sig, SIG_DFL);
    raise(sig);
}

static void install_crash_handlers(void)
{
    static const int sigs[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        signal(sigs[i], on_crash);
}

/* Read path whole into a buffer of exactly its size (one byte for an empty file), so a harness
 * reading past its input is caught when the driver runs under a sanitizer or valgrind. */
static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    struct stat st;
    uint8_t *buf = NULL;

    if (!f)
        return NULL;
    if (fstat(fileno(f), &st) == 0 && (buf = malloc(st.st_size ? (size_t) st.st_size : 1))) {
        *size = fread(buf, 1, (size_t) st.st_size, f);
        if (*size != (size_t) st.st_size) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    return buf;
}

/* Run one file through the harness; returns 0, or -1 when it cannot be read. */
static int replay_file(const char *path)
{
    size_t size;
    uint8_t *data = read_file(path, &size);

    if (!data) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        return -1;
    }
    current_input = path;
    LLVMFuzzerTestOneInput(data, size);
    current_input = NULL;
    free(data);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

/* Replay every regular file directly in dir; *count grows by the inputs run. */
static int replay_dir(const char *dir, int *count)
{
    struct dirent **names;
    int n = scandir(dir, &names, NULL, by_name), status = 0;

    if (n < 0) {
        fprintf(stderr, "replay: cannot list %s\n", dir);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            if (replay_file(path) != 0)
                status = -1;
            else
                (*count)++;
        }
        free(names[i]);
    }
    free(names);
    return status;
}

int main(int argc, char **argv)
{
    int count = 0, status = 0;

    install_crash_handlers();
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: no such file or directory: %s\n", argv[i]);
            status = 1;
        } else if (S_ISDIR(st.st_mode)) {
            if (replay_dir(argv[i], &count) != 0)
                status = 1;
        } else if (replay_file(argv[i]) != 0) {
            status = 1;
        } else {
            count++;
        }
    }
    printf("replay: %d inputs\n", count);
    return status;
}
