/* kernel_template.h: naming helpers for the kernel templates (k_*.inc):
 * K(name) -> name_f32 / name_f64 for the current DK_S; T is the element type. */
#ifndef DK_KERNEL_TEMPLATE_H
#define DK_KERNEL_TEMPLATE_H
#define DK_CAT_(a, b) a##_##b
#define DK_CAT(a, b) DK_CAT_(a, b)
#define K(name) DK_CAT(name, DK_S)
#endif
