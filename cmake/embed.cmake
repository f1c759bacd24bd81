# Embeds a file as a C byte array: cmake -DIN=<file> -DOUT=<c file> -DNAME=<symbol> -P embed.cmake
file(READ "${IN}" content HEX)
string(LENGTH "${content}" hexlen)
math(EXPR len "${hexlen} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," arr "${content}")
file(WRITE "${OUT}" "/* generated from ${IN} by cmake/embed.cmake */\n#include <stddef.h>\nconst char ${NAME}[] = {${arr} 0};\nconst size_t ${NAME}_len = ${len};\n")
