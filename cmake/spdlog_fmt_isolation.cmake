# PyTorch 2.x wheels ship fmt 12 headers inside torch's include folder. A target
# that sees both torch and spdlog then compiles spdlog against fmt 12, which
# spdlog 1.10/1.12 cannot build with. Where that clash exists, copy the system's
# spdlog and fmt headers into a private folder searched before torch's.
# Debian's LibTorch 1.13 has no fmt folder, so this does nothing there.
set(_vae_torch_fmt "")
foreach(_dir IN LISTS TORCH_INCLUDE_DIRS)
  # Debian's LibTorch lists /usr/include, whose fmt is the system's own.
  if(_dir IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
    continue()
  endif()
  if(EXISTS "${_dir}/fmt/core.h")
    set(_vae_torch_fmt "${_dir}/fmt")
  endif()
endforeach()

set(VAE_SPDLOG_FMT_INCLUDE "")
if(_vae_torch_fmt)
  find_path(_vae_spdlog_inc spdlog/spdlog.h PATHS /usr/include NO_DEFAULT_PATH)
  find_path(_vae_fmt_inc fmt/core.h PATHS /usr/include NO_DEFAULT_PATH)
  if(_vae_spdlog_inc AND _vae_fmt_inc)
    set(VAE_SPDLOG_FMT_INCLUDE "${CMAKE_CURRENT_BINARY_DIR}/isolated-include")
    file(COPY "${_vae_spdlog_inc}/spdlog" DESTINATION "${VAE_SPDLOG_FMT_INCLUDE}")
    file(COPY "${_vae_fmt_inc}/fmt" DESTINATION "${VAE_SPDLOG_FMT_INCLUDE}")
    message(STATUS "torch ships fmt at ${_vae_torch_fmt}: spdlog/fmt headers isolated in ${VAE_SPDLOG_FMT_INCLUDE}")
  else()
    message(WARNING "torch ships its own fmt but system spdlog/fmt headers were not found")
  endif()
endif()

# Call on every target that includes spdlog and sees torch's headers.
function(vae_isolate_spdlog_fmt target)
  if(VAE_SPDLOG_FMT_INCLUDE)
    target_include_directories(${target} SYSTEM BEFORE PRIVATE "${VAE_SPDLOG_FMT_INCLUDE}")
  endif()
endfunction()
