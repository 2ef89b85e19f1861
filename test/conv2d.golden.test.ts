import { conv2d, referenceConv2d } from '../src/index.js';
import { goldenConvSuite } from './support/conv-suite.js';

goldenConvSuite('reference', referenceConv2d);
goldenConvSuite('conv2d (default single-thread path)', conv2d);
