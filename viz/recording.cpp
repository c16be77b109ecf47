// recording.cpp — the inspector data model (recording.h).
#include "recording.h"
