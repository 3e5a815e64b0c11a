/* placeholder: filled in by its owner */
#include "internal.h"
