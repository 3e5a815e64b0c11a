# libdaytona install rules (filled in with the install work).
