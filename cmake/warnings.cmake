# Warnings live on an INTERFACE target linked PRIVATE, never in global flags.
add_library(vae_warnings INTERFACE)
target_compile_options(vae_warnings INTERFACE
  $<$<CXX_COMPILER_ID:GNU,Clang>:-Wall -Wextra -Wpedantic -Wno-unused-parameter>)
