/* main.c - the murr server binary: args, config, signals, start/stop. */
#include "core/log.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-V") == 0 || strcmp(argv[i], "--version") == 0) {
            printf("murr %s\n", MURR_VERSION);
            return 0;
        }
    }
    MR_INFO("murr", "Starting murr v%s", MURR_VERSION);
    return 0;
}
